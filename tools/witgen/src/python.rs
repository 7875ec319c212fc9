//! Prints a [`Model`] as Python: the dataclasses, enums and variant cases of the exported
//! interfaces, their descriptors for the marshal engine of the Python package
//! (`metald_client._marshal`), and a typed wrapper per export.
//!
//! Python mapping (documented for users in `python/README.md`): records → dataclasses with
//! `snake_case` fields, each defaulting to the protobuf zero value (`""`, `0`, `False`, empty
//! collections, `None`, a record's own zero); enums → `str`-valued `WitEnum`s (values are
//! the WIT case names, or the `snake_case` names for the enums listed in
//! [`PythonOptions::snake_valued_enums`]); open protobuf enums (a variant of payload-less
//! cases then `unknown(s32)`) → `OpenWitEnum`s, typed `E | int`; other variants → one
//! dataclass per case (`value` holds the payload) and a union alias; `option<T>` → `T | None`;
//! `list<T>` → `list[T]`, `list<u8>` → `bytes`; a named `list<tuple<string, V>>` whose name
//! ends in `-map` → `dict[str, V]`; tuples → `tuple[…]`; resource handles → `ResourceAny`.
//! A function returning `result<T, E>` returns `T`; the caller raises the `err` payload.
//!
//! The output is formatted as `ruff format` (line length 100) leaves it: what fits on a line
//! is printed on one line, anything else one item per line with a trailing comma.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::GenError;
use crate::layout::{Expr as Py, Style, width};
use crate::model::{Case, Field, Func, FuncKind, Kind, Model, Prim, TyRef, TypeDef};
use crate::names::{camel, check_unique, snake, upper_snake};

/// The line length of the Python package (`[tool.ruff] line-length`).
const LINE: usize = 100;

/// How ruff lays out the package's code.
const STYLE: Style = Style { line: LINE, step: 4 };

/// Options of the Python emitter.
pub struct PythonOptions {
    /// The module the generated code imports the marshal engine from, relative
    /// (`._marshal`).
    pub marshal_module: String,
    /// The module of the enum base classes `WitEnum` and `OpenWitEnum` (`._enums`).
    pub enums_module: String,
    /// WIT enums whose Python values are the `snake_case` case names rather than the WIT
    /// names (`error-code`: Connect spells its codes `not_found`).
    pub snake_valued_enums: Vec<String>,
}

/// Renders the Python bindings module of `model`.
pub fn render(model: &Model, options: &PythonOptions) -> Result<String, GenError> {
    let exported: BTreeSet<&str> = model.exported_interfaces.iter().map(|o| o.qualified.as_str()).collect();
    let mut e =
        Emitter { m: model, o: options, exported, blocks: vec![], public: vec![], uses: Uses::default() };
    e.check_names()?;
    e.types()?;
    e.type_table();
    e.funcs()?;
    Ok(e.finish())
}

/// Which optional imports the module needs, noted while printing.
#[derive(Default)]
struct Uses {
    dataclass: Cell<bool>,
    field: Cell<bool>,
    resource: Cell<bool>,
    wit_enum: Cell<bool>,
    open_enum: Cell<bool>,
}

struct Emitter<'a> {
    m: &'a Model,
    o: &'a PythonOptions,
    exported: BTreeSet<&'a str>,
    /// Top-level statements, separated by two blank lines.
    blocks: Vec<String>,
    /// Names for `__all__`.
    public: Vec<String>,
    uses: Uses,
}

/// A Python string literal.
fn py_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Python identifier for a WIT name: `snake_case`, with a trailing underscore for
/// keywords and for `reserved` names of the surrounding scope.
fn py_ident(wit: &str, reserved: &[&str]) -> String {
    const KEYWORDS: &[&str] = &[
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
        "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in",
        "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
    ];
    let s = snake(wit);
    if KEYWORDS.contains(&s.as_str()) || reserved.contains(&s.as_str()) { format!("{s}_") } else { s }
}

/// The paragraphs of a WIT doc comment, with Markdown code spans as reST literals. Inside a
/// paragraph, list items (lines starting with `- ` or `* `) stay on lines of their own,
/// separated by `\n`.
fn paragraphs(docs: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in docs.lines().map(str::trim) {
        if line.is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        let line = line.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"").replace('`', "``");
        if !current.is_empty() {
            current.push(if line.starts_with("- ") || line.starts_with("* ") { '\n' } else { ' ' });
        }
        current.push_str(&line);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Greedy word wrap of `text` to `columns` columns; each `\n`-separated list item starts a
/// line, and its continuation lines are indented by two spaces.
fn wrap(text: &str, columns: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for segment in text.split('\n') {
        let hang = if segment.starts_with("- ") || segment.starts_with("* ") { "  " } else { "" };
        let mut line = String::new();
        for word in segment.split_whitespace() {
            if !line.is_empty() && width(&line) + 1 + width(word) > columns {
                lines.push(std::mem::take(&mut line));
                line.push_str(hang);
            }
            if !line.trim().is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

/// A docstring at column `indent`: one paragraph closes on its last line, several close on a
/// line of their own.
fn docstring(indent: usize, paragraphs: &[String]) -> String {
    let pad = " ".repeat(indent);
    // Room for the opening and closing quotes on any line.
    let columns = LINE - indent - 6;
    let mut lines: Vec<String> = Vec::new();
    for (i, p) in paragraphs.iter().enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        lines.extend(wrap(p, columns));
    }
    if let Some(last) = lines.last_mut()
        && paragraphs.len() == 1
        && last.ends_with('"')
    {
        last.push(' ');
    }
    let mut s = String::new();
    for (i, line) in lines.iter().enumerate() {
        let quotes = if i == 0 { "\"\"\"" } else { "" };
        if line.is_empty() {
            s.push('\n');
        } else {
            let _ = write!(s, "{pad}{quotes}{line}");
            if i + 1 < lines.len() {
                s.push('\n');
            }
        }
    }
    if paragraphs.len() > 1 {
        let _ = writeln!(s, "\n{pad}\"\"\"");
    } else {
        s.push_str("\"\"\"\n");
    }
    s
}

/// The zero value of a field: a literal, or a factory for mutable values.
enum Zero {
    Literal(String),
    Factory(String),
}

impl Emitter<'_> {
    fn is_exported(&self, def: &TypeDef) -> bool {
        def.owner.as_ref().is_some_and(|o| self.exported.contains(o.qualified.as_str()))
    }

    /// Type definitions of the exported interfaces that get Python declarations.
    fn declared(&self) -> impl Iterator<Item = (usize, &TypeDef)> {
        self.m.types.iter().enumerate().filter(|(_, def)| {
            def.name.is_some()
                && self.is_exported(def)
                && !self.m.is_use(def)
                && !matches!(def.kind, Kind::Resource { .. })
        })
    }

    fn class(def: &TypeDef) -> String {
        camel(def.name.as_deref().unwrap_or_default())
    }

    fn desc_name(def: &TypeDef) -> String {
        format!("T_{}", upper_snake(def.name.as_deref().unwrap_or_default()))
    }

    fn case_class(variant: &str, case: &Case) -> String {
        format!("{variant}{}", camel(&case.name))
    }

    /// The wrapper function name of an export.
    fn func_name(&self, f: &Func) -> String {
        let rest = |prefix: &str| f.wit_name.strip_prefix(prefix).unwrap_or(&f.wit_name).replace('.', "-");
        match f.kind {
            FuncKind::Freestanding => format!("{}_{}", snake(&f.owner.interface), snake(&f.wit_name)),
            FuncKind::Constructor(r) => format!("{}_new", snake(&self.m.resources[r].name)),
            FuncKind::Method(_) => snake(&rest("[method]")),
            FuncKind::Static(_) => snake(&rest("[static]")),
        }
    }

    /// Every module-level name, checked for clashes.
    fn check_names(&self) -> Result<(), GenError> {
        let mut names = Vec::new();
        for (_, def) in self.declared() {
            names.push(Self::desc_name(def));
            if matches!(
                def.kind,
                Kind::Record { .. } | Kind::Enum { .. } | Kind::Variant { .. } | Kind::Alias { .. }
            ) {
                names.push(Self::class(def));
            }
            if let (Kind::Variant { cases, .. }, None) = (&def.kind, def.kind.open_enum()) {
                names.extend(cases.iter().map(|c| Self::case_class(&Self::class(def), c)));
            }
        }
        for f in &self.m.exports {
            let name = self.func_name(f);
            names.push(format!("F_{}", name.to_uppercase()));
            names.push(name);
        }
        check_unique("Python", names)
    }

    /// The Python type of a value of `t`; `input` widens enums to their names (and open
    /// enums to numbers), as the marshal engine accepts them.
    fn hint(&self, t: TyRef, input: bool) -> Result<String, GenError> {
        let i = match t {
            TyRef::Prim(Prim::Bool) => return Ok("bool".into()),
            TyRef::Prim(Prim::F32 | Prim::F64) => return Ok("float".into()),
            TyRef::Prim(Prim::Char | Prim::String) => return Ok("str".into()),
            TyRef::Prim(_) => return Ok("int".into()),
            TyRef::Def(i) => i,
        };
        let def = &self.m.types[i];
        if let Some(value) = self.m.map_value(def) {
            return Ok(format!("dict[str, {}]", self.hint(value, input)?));
        }
        Ok(match &def.kind {
            Kind::Alias { target } => self.hint(*target, input)?,
            Kind::List { elem: TyRef::Prim(Prim::U8) } => "bytes".into(),
            Kind::List { elem } => format!("list[{}]", self.hint(*elem, input)?),
            Kind::Option { elem, .. } => format!("{} | None", self.hint(*elem, input)?),
            Kind::Tuple { fields } => {
                let mut elems = Vec::new();
                for f in fields {
                    elems.push(self.hint(f.ty, input)?);
                }
                format!("tuple[{}]", elems.join(", "))
            }
            Kind::Record { .. } | Kind::Enum { .. } | Kind::Variant { .. } => {
                let name = self.named_class(i)?;
                match (&def.kind, def.kind.open_enum(), input) {
                    (_, Some(_), false) => format!("{name} | int"),
                    (_, Some(_), true) => format!("{name} | str | int"),
                    (Kind::Enum { .. }, _, true) => format!("{name} | str"),
                    _ => name,
                }
            }
            Kind::Own { .. } | Kind::Borrow { .. } => {
                self.uses.resource.set(true);
                "ResourceAny".into()
            }
            Kind::Result { .. } => {
                return Err(GenError::Unsupported("a result outside a function result".into()));
            }
            Kind::Flags { .. } => return Err(GenError::Unsupported("flags in Python".into())),
            Kind::Resource { .. } => return Err(GenError::Unsupported("a resource type as a value".into())),
        })
    }

    /// The class of a named record, enum or variant of an exported interface.
    fn named_class(&self, i: usize) -> Result<String, GenError> {
        let def = &self.m.types[i];
        if def.name.is_none() || !self.is_exported(def) {
            return Err(GenError::Unsupported(format!(
                "a {} that is not a named type of an exported interface",
                match def.kind {
                    Kind::Record { .. } => "record",
                    Kind::Enum { .. } => "enum",
                    _ => "variant",
                }
            )));
        }
        Ok(Self::class(def))
    }

    /// The descriptor expression of `t`.
    fn desc(&self, t: TyRef) -> Result<Py, GenError> {
        let i = match t {
            TyRef::Prim(p) => return Ok(Py::atom(format!("_m.{}", p.wit().to_uppercase()))),
            TyRef::Def(i) => i,
        };
        let def = &self.m.types[i];
        match &def.kind {
            Kind::Alias { target } => self.desc(*target),
            _ if def.name.is_some() && self.is_exported(def) => Ok(Py::atom(Self::desc_name(def))),
            _ => self.structural_desc(def),
        }
    }

    /// The descriptor of a type definition's shape.
    fn structural_desc(&self, def: &TypeDef) -> Result<Py, GenError> {
        if let Some(value) = self.m.map_value(def) {
            return Ok(Py::call("_m.Map", vec![self.desc(value)?]));
        }
        let name = || py_str(def.name.as_deref().unwrap_or_default());
        Ok(match &def.kind {
            Kind::Alias { target } => self.desc(*target)?,
            Kind::List { elem: TyRef::Prim(Prim::U8) } => Py::atom("_m.BYTES"),
            Kind::List { elem } => Py::call("_m.List", vec![self.desc(*elem)?]),
            Kind::Option { elem, .. } => Py::call("_m.Option", vec![self.desc(*elem)?]),
            Kind::Result { ok, err, .. } => {
                let side = |t: &Option<TyRef>| t.map_or(Ok(Py::atom("None")), |t| self.desc(t));
                Py::call("_m.Result", vec![side(ok)?, side(err)?])
            }
            Kind::Tuple { fields } => Py::call(
                "_m.Tuple",
                vec![Py::tuple(fields.iter().map(|f| self.desc(f.ty)).collect::<Result<_, _>>()?)],
            ),
            Kind::Record { fields } => Py::call(
                "_m.Record",
                vec![
                    Py::atom(Self::class(def)),
                    Py::atom(name()),
                    Py::tuple(
                        fields
                            .iter()
                            .map(|f| {
                                Ok(Py::call(
                                    "_m.Field",
                                    vec![
                                        Py::atom(py_str(&f.name)),
                                        Py::atom(py_str(&py_ident(&f.name, &[]))),
                                        self.desc(f.ty)?,
                                    ],
                                ))
                            })
                            .collect::<Result<_, GenError>>()?,
                    ),
                ],
            ),
            Kind::Enum { cases, .. } => Py::call(
                "_m.Enum",
                vec![
                    Py::atom(Self::class(def)),
                    Py::atom(name()),
                    Py::tuple(cases.iter().map(|c| Py::atom(py_str(&c.name))).collect()),
                ],
            ),
            Kind::Variant { cases, .. } => match def.kind.open_enum() {
                Some(known) => Py::call(
                    "_m.OpenEnum",
                    vec![
                        Py::atom(Self::class(def)),
                        Py::atom(name()),
                        Py::tuple(known.iter().map(|c| Py::atom(py_str(c))).collect()),
                    ],
                ),
                None => Py::call(
                    "_m.Variant",
                    vec![
                        Py::atom(name()),
                        Py::tuple(
                            cases
                                .iter()
                                .map(|c| {
                                    Ok(Py::call(
                                        "_m.Case",
                                        vec![
                                            Py::atom(py_str(&c.name)),
                                            Py::atom(Self::case_class(&Self::class(def), c)),
                                            c.ty.map_or(Ok(Py::atom("None")), |t| self.desc(t))?,
                                        ],
                                    ))
                                })
                                .collect::<Result<_, GenError>>()?,
                        ),
                    ],
                ),
            },
            Kind::Own { resource } | Kind::Borrow { resource } => {
                Py::call("_m.Resource", vec![Py::atom(py_str(&self.m.resources[*resource].name))])
            }
            Kind::Flags { .. } => return Err(GenError::Unsupported("flags in Python".into())),
            Kind::Resource { .. } => return Err(GenError::Unsupported("a resource type as a value".into())),
        })
    }

    /// The protobuf zero value of `t`, the default of fields and case payloads.
    fn zero(&self, t: TyRef) -> Result<Zero, GenError> {
        let i = match t {
            TyRef::Prim(Prim::Bool) => return Ok(Zero::Literal("False".into())),
            TyRef::Prim(Prim::F32 | Prim::F64) => return Ok(Zero::Literal("0.0".into())),
            TyRef::Prim(Prim::Char) => return Ok(Zero::Literal("\"\\x00\"".into())),
            TyRef::Prim(Prim::String) => return Ok(Zero::Literal("\"\"".into())),
            TyRef::Prim(_) => return Ok(Zero::Literal("0".into())),
            TyRef::Def(i) => i,
        };
        let def = &self.m.types[i];
        if self.m.map_value(def).is_some() {
            return Ok(Zero::Factory("dict".into()));
        }
        Ok(match &def.kind {
            Kind::Alias { target } => self.zero(*target)?,
            Kind::List { elem: TyRef::Prim(Prim::U8) } => Zero::Literal("b\"\"".into()),
            Kind::List { .. } => Zero::Factory("list".into()),
            Kind::Option { .. } => Zero::Literal("None".into()),
            Kind::Tuple { fields } => {
                let mut literal = true;
                let mut items = Vec::new();
                for f in fields {
                    items.push(match self.zero(f.ty)? {
                        Zero::Literal(s) => s,
                        Zero::Factory(s) => {
                            literal = false;
                            format!("{s}()")
                        }
                    });
                }
                let comma = if items.len() == 1 { "," } else { "" };
                let tuple = format!("({}{comma})", items.join(", "));
                if literal { Zero::Literal(tuple) } else { Zero::Factory(format!("lambda: {tuple}")) }
            }
            Kind::Record { .. } => Zero::Factory(self.named_class(i)?),
            Kind::Enum { cases, .. } => {
                let first =
                    cases.first().ok_or_else(|| GenError::Unsupported("an enum without cases".into()))?;
                Zero::Literal(format!("{}.{}", self.named_class(i)?, upper_snake(&first.name)))
            }
            Kind::Variant { cases, .. } => {
                let class = self.named_class(i)?;
                match (def.kind.open_enum(), cases.first()) {
                    (Some(known), _) => Zero::Literal(format!("{class}.{}", upper_snake(known[0]))),
                    (None, Some(first)) => Zero::Factory(Self::case_class(&class, first)),
                    (None, None) => return Err(GenError::Unsupported("a variant without cases".into())),
                }
            }
            Kind::Result { .. } => {
                return Err(GenError::Unsupported("a result outside a function result".into()));
            }
            Kind::Flags { .. } => return Err(GenError::Unsupported("flags in Python".into())),
            Kind::Own { .. } | Kind::Borrow { .. } | Kind::Resource { .. } => {
                return Err(GenError::Unsupported("a resource handle in a record or variant".into()));
            }
        })
    }

    /// `name: hint = zero` and its doc, inside a dataclass.
    fn field_line(&self, attr: &str, t: TyRef, docs: &str) -> Result<String, GenError> {
        let hint = self.hint(t, false)?;
        let default = match self.zero(t)? {
            Zero::Literal(s) => s,
            Zero::Factory(f) => {
                self.uses.field.set(true);
                format!("_field(default_factory={f})")
            }
        };
        let mut s = format!("    {attr}: {hint} = {default}\n");
        let docs = paragraphs(docs);
        if !docs.is_empty() {
            s.push_str(&docstring(4, &[docs.join(" ")]));
        }
        Ok(s)
    }

    fn class_doc(def: &TypeDef, what: &str) -> Vec<String> {
        let mut docs = paragraphs(&def.docs);
        let owner = def.owner.as_ref().map(|o| o.qualified.as_str()).unwrap_or_default();
        docs.push(format!("WIT: {what} ``{}`` of ``{owner}``.", def.name.as_deref().unwrap_or_default()));
        docs
    }

    fn types(&mut self) -> Result<(), GenError> {
        let m = self.m;
        let declared: Vec<usize> = self.declared().map(|(i, _)| i).collect();
        for i in declared {
            let def = &m.types[i];
            let class = Self::class(def);
            match &def.kind {
                Kind::Record { fields } => {
                    self.uses.dataclass.set(true);
                    let mut s = format!("@dataclass\nclass {class}:\n");
                    s.push_str(&docstring(4, &Self::class_doc(def, "record")));
                    if !fields.is_empty() {
                        s.push('\n');
                    }
                    for Field { name, ty, docs, .. } in fields {
                        s.push_str(&self.field_line(&py_ident(name, &[]), *ty, docs)?);
                    }
                    self.blocks.push(s);
                    self.public.push(class);
                }
                Kind::Enum { cases, .. } => {
                    self.uses.wit_enum.set(true);
                    let snake_values = self.o.snake_valued_enums.iter().any(|e| Some(e) == def.name.as_ref());
                    let mut s = format!("class {class}(WitEnum):\n");
                    s.push_str(&docstring(4, &Self::class_doc(def, "enum")));
                    s.push('\n');
                    for c in cases {
                        let value = if snake_values { snake(&c.name) } else { c.name.clone() };
                        let _ = writeln!(s, "    {} = {}", upper_snake(&c.name), py_str(&value));
                        let docs = paragraphs(&c.docs);
                        if !docs.is_empty() {
                            s.push_str(&docstring(4, &[docs.join(" ")]));
                        }
                    }
                    self.blocks.push(s);
                    self.public.push(class);
                }
                Kind::Variant { cases, .. } => match def.kind.open_enum() {
                    Some(_) => {
                        self.uses.open_enum.set(true);
                        let mut docs = Self::class_doc(def, "variant");
                        docs.insert(
                            docs.len() - 1,
                            "A number this SDK does not know (the case ``unknown(s32)``) is a plain ``int``."
                                .into(),
                        );
                        let mut s = format!("class {class}(OpenWitEnum):\n");
                        s.push_str(&docstring(4, &docs));
                        s.push('\n');
                        for c in &cases[..cases.len() - 1] {
                            let _ = writeln!(s, "    {} = {}", upper_snake(&c.name), py_str(&c.name));
                            let docs = paragraphs(&c.docs);
                            if !docs.is_empty() {
                                s.push_str(&docstring(4, &[docs.join(" ")]));
                            }
                        }
                        self.blocks.push(s);
                        self.public.push(class);
                    }
                    None => self.variant(def, &class, cases)?,
                },
                Kind::Alias { target: TyRef::Def(t) }
                    if matches!(
                        self.m.types[*t].kind,
                        Kind::Record { .. } | Kind::Enum { .. } | Kind::Variant { .. }
                    ) =>
                {
                    let target = self.named_class(*t)?;
                    let mut s = format!("{class} = {target}\n");
                    s.push_str(&docstring(0, &Self::class_doc(def, "type")));
                    self.blocks.push(s);
                    self.public.push(class);
                }
                _ => {}
            }
            let desc = self.structural_desc(def)?;
            let prefix = format!("{} = ", Self::desc_name(def));
            self.blocks.push(desc.render(&STYLE, 0, &prefix, ""));
        }
        Ok(())
    }

    fn variant(&mut self, def: &TypeDef, class: &str, cases: &[Case]) -> Result<(), GenError> {
        self.uses.dataclass.set(true);
        let mut members = Vec::new();
        for c in cases {
            let case_class = Self::case_class(class, c);
            let mut docs = paragraphs(&c.docs);
            docs.push(format!(
                "WIT: case ``{}`` of the variant ``{}`` (:data:`{class}`).",
                c.name,
                def.name.as_deref().unwrap_or_default()
            ));
            let mut s = format!("@dataclass\nclass {case_class}:\n");
            s.push_str(&docstring(4, &docs));
            if let Some(t) = c.ty {
                s.push('\n');
                s.push_str(&self.field_line("value", t, "")?);
            }
            self.blocks.push(s);
            self.public.push(case_class.clone());
            members.push(case_class);
        }
        let one_line = format!("{class} = {}", members.join(" | "));
        let mut s = if width(&one_line) <= LINE {
            one_line + "\n"
        } else if 4 + width(&members.join(" | ")) <= LINE {
            format!("{class} = (\n    {}\n)\n", members.join(" | "))
        } else {
            format!("{class} = (\n    {}\n)\n", members.join("\n    | "))
        };
        s.push_str(&docstring(0, &Self::class_doc(def, "variant")));
        self.blocks.push(s);
        self.public.push(class.to_string());
        Ok(())
    }

    /// `TYPES`: every named type of every exported interface (`use`s included), for checks
    /// against the component's own types.
    fn type_table(&mut self) {
        let mut items = Vec::new();
        for def in &self.m.types {
            let (Some(name), Some(owner)) = (&def.name, &def.owner) else { continue };
            if !self.is_exported(def) || matches!(def.kind, Kind::Resource { .. }) {
                continue;
            }
            let mut target = def;
            while let (true, Kind::Alias { target: TyRef::Def(t) }) = (self.m.is_use(target), &target.kind) {
                target = &self.m.types[*t];
            }
            items.push(Py::atom(format!(
                "({}, {}): {}",
                py_str(&owner.qualified),
                py_str(name),
                Self::desc_name(target)
            )));
        }
        let table = Py::group("{", items, "}");
        let mut s = table.render(&STYLE, 0, "TYPES: dict[tuple[str, str], _m.Type] = ", "");
        s.push_str(&docstring(
            0,
            &["Every named type of the exported interfaces, by (interface, WIT name).".into()],
        ));
        self.blocks.push(s);
    }

    fn funcs(&mut self) -> Result<(), GenError> {
        let m = self.m;
        let mut all = Vec::new();
        for f in &m.exports {
            let name = self.func_name(f);
            let constant = format!("F_{}", name.to_uppercase());
            let params = match f.kind {
                FuncKind::Method(_) => &f.params[1..],
                _ => &f.params[..],
            };
            let mut descs = Vec::new();
            let mut args = vec![Py::atom("caller: _m.Caller")];
            let mut values = vec![Py::atom(constant.clone())];
            if let FuncKind::Method(_) = f.kind {
                self.uses.resource.set(true);
                descs.push(Py::call(
                    "_m.Field",
                    vec![
                        Py::atom(py_str(&f.params[0].name)),
                        Py::atom(py_str("handle")),
                        self.desc(f.params[0].ty)?,
                    ],
                ));
                args.push(Py::atom("handle: ResourceAny"));
                values.push(Py::atom("handle"));
            }
            for p in params {
                let attr = py_ident(&p.name, &["caller", "handle", "result"]);
                descs.push(Py::call(
                    "_m.Field",
                    vec![Py::atom(py_str(&p.name)), Py::atom(py_str(&attr)), self.desc(p.ty)?],
                ));
                args.push(Py::atom(format!("{attr}: {}", self.hint(p.ty, true)?)));
                values.push(Py::atom(attr));
            }
            let result = f.result.map_or(Ok(Py::atom("None")), |t| self.desc(t))?;
            let desc = Py::call(
                "_m.Func",
                vec![
                    Py::atom(py_str(&f.owner.qualified)),
                    Py::atom(py_str(&f.wit_name)),
                    Py::tuple(descs),
                    result,
                ],
            );
            self.blocks.push(desc.render(&STYLE, 0, &format!("{constant} = "), ""));

            // What the wrapper returns: the `ok` payload of an anonymous result.
            let (returned, _) = m.returned(f);
            let ret = returned.map(|t| self.hint(t, false)).transpose()?;
            let signature = Py::group(
                format!("def {name}("),
                args,
                format!(") -> {}:", ret.as_deref().unwrap_or("None")),
            );
            let mut s = signature.render(&STYLE, 0, "", "");
            let mut docs = vec![format!("Calls ``{}`` of ``{}``.", f.wit_name, f.owner.qualified)];
            docs.extend(paragraphs(&f.docs));
            s.push_str(&docstring(4, &docs));
            let call = Py::call("caller.call", values);
            match &ret {
                Some(hint) => {
                    s.push_str(&call.render(&STYLE, 4, &format!("result: {hint} = "), ""));
                    s.push_str("    return result\n");
                }
                None => s.push_str(&call.render(&STYLE, 4, "", "")),
            }
            self.blocks.push(s);
            all.push(Py::atom(constant));
        }
        let mut s = Py::tuple(all).render(&STYLE, 0, "FUNCS: tuple[_m.Func, ...] = ", "");
        s.push_str(&docstring(0, &["Every export, in WIT order.".into()]));
        self.blocks.push(s);
        Ok(())
    }

    fn finish(self) -> String {
        let mut out = String::new();
        out.push_str("# Code generated by metald-witgen from wit/; DO NOT EDIT.\n");
        out.push_str(
            "# Regenerate: cargo run -p metald-witgen -- python (tools/witgen/tests/fresh.rs checks it).\n",
        );
        out.push_str(&docstring(
            0,
            &[
                "The WIT types and exports of the component as Python, generated from ``wit/``.".into(),
                "Dataclasses, enums and variant cases of the exported interfaces; ``T_*`` describe each \
                 type to the marshal engine (:mod:`metald_client._marshal`), ``F_*`` each export, and one \
                 typed function per export calls it through a :class:`~metald_client._marshal.Caller`. \
                 :mod:`metald_client.types` re-exports the public names."
                    .into(),
            ],
        ));
        out.push_str("\nfrom __future__ import annotations\n\n");
        let mut std = Vec::new();
        if self.uses.dataclass.get() {
            std.push("from dataclasses import dataclass\n");
        }
        if self.uses.field.get() {
            std.push("from dataclasses import field as _field\n");
        }
        if !std.is_empty() {
            out.push_str(&std.concat());
            out.push('\n');
        }
        if self.uses.resource.get() {
            out.push_str("from wasmtime.component import ResourceAny\n\n");
        }
        let _ = writeln!(out, "from . import {} as _m", self.o.marshal_module.trim_start_matches('.'));
        let bases: Vec<&str> =
            [(self.uses.open_enum.get(), "OpenWitEnum"), (self.uses.wit_enum.get(), "WitEnum")]
                .into_iter()
                .filter_map(|(used, name)| used.then_some(name))
                .collect();
        if !bases.is_empty() {
            let _ = writeln!(out, "from {} import {}", self.o.enums_module, bases.join(", "));
        }
        out.push('\n');
        let mut public = self.public.clone();
        public.sort();
        let all = Py::group("[", public.iter().map(|n| Py::atom(py_str(n))).collect(), "]");
        out.push_str(&all.render(&STYLE, 0, "__all__ = ", ""));
        for block in &self.blocks {
            out.push_str("\n\n");
            out.push_str(block);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CoreNames, build};

    fn python(wit: &str) -> String {
        let mut resolve = wit_parser::Resolve::default();
        let pkg = resolve.push_str("test.wit", wit).unwrap();
        let world = resolve.select_world(&[pkg], Some("w")).unwrap();
        let core = CoreNames { imports: Default::default(), exports: Default::default() };
        let m = build(&resolve, world, &core).unwrap();
        let options = PythonOptions {
            marshal_module: "._marshal".into(),
            enums_module: "._enums".into(),
            snake_valued_enums: vec!["code".into()],
        };
        render(&m, &options).unwrap()
    }

    #[test]
    fn records_become_dataclasses_with_zero_defaults_and_descriptors() {
        let py = python(
            "package a:b; interface i { record inner { x: u8 } type m-map = list<tuple<string, string>>; \
             record r { vcpu-count: s32, name: string, on: bool, tags: m-map, blob: list<u8>, \
             next: option<inner>, inner: inner, %from: f64 } } world w { export i; }",
        );
        for line in [
            "    vcpu_count: int = 0\n",
            "    name: str = \"\"\n",
            "    on: bool = False\n",
            "    tags: dict[str, str] = _field(default_factory=dict)\n",
            "    blob: bytes = b\"\"\n",
            "    next: Inner | None = None\n",
            "    inner: Inner = _field(default_factory=Inner)\n",
            "    from_: float = 0.0\n",
            "        _m.Field(\"vcpu-count\", \"vcpu_count\", _m.S32),\n",
            "        _m.Field(\"tags\", \"tags\", T_M_MAP),\n",
            "T_M_MAP = _m.Map(_m.STRING)\n",
        ] {
            assert!(py.contains(line), "missing {line:?} in\n{py}");
        }
    }

    #[test]
    fn open_enums_and_variants_get_their_python_shapes() {
        let py = python(
            "package a:b; interface i { variant state { unspecified, running, unknown(s32) } \
             variant v { x, y(u64) } enum code { not-found, ok } \
             record r { s: state, v: v, c: code } f: func(s: state, c: code) -> result<r, v>; } \
             world w { export i; }",
        );
        for line in [
            "class State(OpenWitEnum):\n",
            "    RUNNING = \"running\"\n",
            "    NOT_FOUND = \"not_found\"\n",
            "    s: State | int = State.UNSPECIFIED\n",
            "    v: V = _field(default_factory=VX)\n",
            "    c: Code = Code.NOT_FOUND\n",
            "class VY:\n",
            "    value: int = 0\n",
            "V = VX | VY\n",
            "def i_f(caller: _m.Caller, s: State | str | int, c: Code | str) -> R:\n",
            "    result: R = caller.call(F_I_F, s, c)\n",
            "T_STATE = _m.OpenEnum(State, \"state\", (\"unspecified\", \"running\"))\n",
        ] {
            assert!(py.contains(line), "missing {line:?} in\n{py}");
        }
    }

    #[test]
    fn long_expressions_are_split_one_item_per_line() {
        let py = python(
            "package a:b; interface i { record r { a-very-long-field-name-number-one: string, \
             a-very-long-field-name-number-two: string } } world w { export i; }",
        );
        assert!(py.lines().all(|l| l.len() <= LINE), "{py}");
        assert!(py.contains("T_R = _m.Record(\n    R,\n    \"r\",\n    (\n"), "{py}");
    }

    #[test]
    fn docs_become_wrapped_docstrings_with_literals() {
        let doc = docstring(4, &paragraphs(&"A `code` span and a long sentence ".repeat(4)));
        assert!(doc.starts_with("    \"\"\"A ``code`` span"), "{doc}");
        assert!(doc.lines().all(|l| l.len() <= LINE), "{doc}");
        assert!(doc.ends_with("\"\"\"\n"), "{doc}");
    }

    #[test]
    fn docs_keep_list_items_on_their_own_lines() {
        let doc = docstring(4, &paragraphs("One line for people:\n- `a`: first\n- `b`: second"));
        assert_eq!(doc, "    \"\"\"One line for people:\n    - ``a``: first\n    - ``b``: second\"\"\"\n");
    }
}
