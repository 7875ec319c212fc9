//! Prints a [`Model`] as Go: types, canonical-ABI descriptors for the engine in `go/cabi`,
//! typed wrappers of the exports, and the host interface plus glue of the imports.
//!
//! Go mapping (documented for users in `go/README.md`):
//! records → structs; enums → named unsigned integers with constants; flags → `uint32`;
//! variants → a struct with a `Tag` and one field per payload case; `option<T>` → `*T`;
//! `result<T, E>` → `cabi.Result[T, E]` (as a function result: `(T, error)`, the error a
//! `*cabi.ResultError[E]`); tuples → `cabi.TupleN`; a named `list<tuple<string, V>>` whose
//! name ends in `-map` → `map[string]V` (lowered in sorted key order); imported resources →
//! handle types; exported resources → wrapper structs holding the guest's rep.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::GenError;
use crate::model::{Case, Field, Flat, Func, FuncKind, Kind, Model, Prim, TyRef};
use crate::names::{camel, check_unique};

/// Options of the Go emitter.
pub struct GoOptions {
    /// Package name of the generated file.
    pub package: String,
    /// Import path of the engine package (`…/go/cabi`).
    pub cabi_import: String,
}

struct Emitter<'a> {
    m: &'a Model,
    out: String,
}

/// Renders the Go bindings of `model`.
pub fn render(model: &Model, options: &GoOptions) -> Result<String, GenError> {
    check_names(model)?;
    let mut e = Emitter { m: model, out: String::new() };
    e.header(options);
    e.types();
    e.descriptors();
    e.exports()?;
    e.imports()?;
    Ok(e.out)
}

/// lowerCamelCase, for parameters; Go keywords get a trailing underscore.
fn lower_camel(kebab: &str) -> String {
    let c = camel(kebab);
    let mut chars = c.chars();
    let s: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "p".into(),
    };
    const KEYWORDS: &[&str] = &[
        "break",
        "case",
        "chan",
        "const",
        "continue",
        "default",
        "defer",
        "else",
        "fallthrough",
        "for",
        "func",
        "go",
        "goto",
        "if",
        "import",
        "interface",
        "map",
        "package",
        "range",
        "return",
        "select",
        "struct",
        "switch",
        "type",
        "var",
        "ctx",
        "x",
        "len",
        "cap",
        "new",
        "string",
        "error",
    ];
    if KEYWORDS.contains(&s.as_str()) { format!("{s}_") } else { s }
}

/// The prefix of Go names for types of another package (`wasi:http` → `WasiHttp`).
fn package_prefix(package: &str) -> String {
    if package == "metald:client" { String::new() } else { camel(package) }
}

fn prim_go(p: Prim) -> &'static str {
    match p {
        Prim::Bool => "bool",
        Prim::U8 => "uint8",
        Prim::S8 => "int8",
        Prim::U16 => "uint16",
        Prim::S16 => "int16",
        Prim::U32 => "uint32",
        Prim::S32 => "int32",
        Prim::U64 => "uint64",
        Prim::S64 => "int64",
        Prim::F32 => "float32",
        Prim::F64 => "float64",
        Prim::Char => "rune",
        Prim::String => "string",
    }
}

fn prim_desc(p: Prim) -> &'static str {
    match p {
        Prim::Bool => "cabi.Bool",
        Prim::U8 => "cabi.U8",
        Prim::S8 => "cabi.S8",
        Prim::U16 => "cabi.U16",
        Prim::S16 => "cabi.S16",
        Prim::U32 => "cabi.U32",
        Prim::S32 => "cabi.S32",
        Prim::U64 => "cabi.U64",
        Prim::S64 => "cabi.S64",
        Prim::F32 => "cabi.F32",
        Prim::F64 => "cabi.F64",
        Prim::Char => "cabi.Char",
        Prim::String => "cabi.String",
    }
}

fn flat_go(f: Flat) -> &'static str {
    match f {
        Flat::I32 => "cabi.FlatI32",
        Flat::I64 => "cabi.FlatI64",
        Flat::F32 => "cabi.FlatF32",
        Flat::F64 => "cabi.FlatF64",
    }
}

fn docs(out: &mut String, indent: &str, docs: &str) {
    for line in docs.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            let _ = writeln!(out, "{indent}//");
        } else {
            let _ = writeln!(out, "{indent}// {line}");
        }
    }
}

/// Every generated Go name must be unique in the package; a clash is a generator error, not
/// a silent shadowing.
fn check_names(m: &Model) -> Result<(), GenError> {
    let names = m.types.iter().filter(|def| !m.is_use(def)).filter_map(|def| match (&def.name, &def.owner) {
        (Some(name), Some(owner)) => Some(format!("{}{}", package_prefix(&owner.package), camel(name))),
        _ => None,
    });
    check_unique("Go", names)
}

impl Emitter<'_> {
    fn w(&mut self, s: &str) {
        self.out.push_str(s);
        self.out.push('\n');
    }

    fn type_name(&self, i: usize) -> Option<String> {
        let def = &self.m.types[i];
        if let (true, Kind::Alias { target: TyRef::Def(t) }) = (self.m.is_use(def), &def.kind) {
            return self.type_name(*t);
        }
        match (&def.name, &def.owner) {
            (Some(name), Some(owner)) => Some(format!("{}{}", package_prefix(&owner.package), camel(name))),
            _ => None,
        }
    }

    fn resource_go(&self, r: usize) -> String {
        let res = &self.m.resources[r];
        format!("{}{}", package_prefix(&res.owner.package), camel(&res.name))
    }

    /// The Go type of a value of `t`.
    fn go(&self, t: TyRef) -> String {
        match t {
            TyRef::Prim(p) => prim_go(p).into(),
            TyRef::Def(i) => match self.type_name(i) {
                Some(n) if !matches!(self.m.types[i].kind, Kind::Resource { .. }) => n,
                _ => self.go_structural(i),
            },
        }
    }

    /// The Go type of a type definition's shape, ignoring its name.
    fn go_structural(&self, i: usize) -> String {
        let def = &self.m.types[i];
        if let Some(value) = self.m.map_value(def) {
            return format!("map[string]{}", self.go(value));
        }
        match &def.kind {
            Kind::Alias { target } => self.go(*target),
            Kind::List { elem } => format!("[]{}", self.go(*elem)),
            Kind::Option { elem, .. } => format!("*{}", self.go(*elem)),
            Kind::Result { ok, err, .. } => {
                format!("cabi.Result[{}, {}]", self.go_or_unit(*ok), self.go_or_unit(*err))
            }
            Kind::Tuple { fields } => format!(
                "cabi.Tuple{}[{}]",
                fields.len(),
                fields.iter().map(|f| self.go(f.ty)).collect::<Vec<_>>().join(", ")
            ),
            Kind::Own { resource } | Kind::Borrow { resource } | Kind::Resource { resource } => {
                if self.m.resources[*resource].exported {
                    "uint32".into()
                } else {
                    self.resource_go(*resource)
                }
            }
            Kind::Record { .. } | Kind::Variant { .. } | Kind::Enum { .. } | Kind::Flags { .. } => {
                self.type_name(i).unwrap_or_else(|| "struct{}".into())
            }
        }
    }

    fn go_or_unit(&self, t: Option<TyRef>) -> String {
        t.map(|t| self.go(t)).unwrap_or_else(|| "struct{}".into())
    }

    fn desc(&self, t: TyRef) -> String {
        match t {
            TyRef::Prim(p) => prim_desc(p).into(),
            TyRef::Def(i) => match &self.m.types[i].kind {
                // Aliases share their target's descriptor unless they change the Go mapping.
                Kind::Alias { target } => self.desc(*target),
                _ => format!("t{}", self.type_name(i).unwrap_or_else(|| format!("Anon{i}"))),
            },
        }
    }

    fn header(&mut self, o: &GoOptions) {
        self.w("// Code generated by metald-witgen from wit/; DO NOT EDIT.");
        self.w("// Regenerate: cargo run -p metald-witgen -- go (scripts/test.sh checks it is fresh).");
        self.w("");
        let _ = writeln!(self.out, "package {}", o.package);
        self.w("");
        self.w("import (");
        self.w("\t\"context\"");
        self.w("");
        let _ = writeln!(self.out, "\t\"{}\"", o.cabi_import);
        self.w(")");
        self.w("");
    }

    fn types(&mut self) {
        for i in 0..self.m.types.len() {
            let def = &self.m.types[i];
            if self.m.is_use(def) {
                continue;
            }
            let (Some(wit), Some(owner), Some(name)) = (&def.name, &def.owner, self.type_name(i)) else {
                continue;
            };
            let intro = format!("{name} is the WIT type `{wit}` of {}.", owner.qualified);
            self.out.push_str(&format!("// {intro}\n"));
            if !def.docs.is_empty() {
                self.w("//");
                docs(&mut self.out, "", &def.docs.clone());
            }
            match &def.kind.clone() {
                Kind::Record { fields } => {
                    let _ = writeln!(self.out, "type {name} struct {{");
                    for f in fields {
                        docs(&mut self.out, "\t", &f.docs);
                        let _ = writeln!(self.out, "\t{} {}", camel(&f.name), self.go(f.ty));
                    }
                    self.w("}");
                }
                Kind::Variant { cases, .. } => self.variant(&name, cases),
                Kind::Enum { cases, .. } => self.enumeration(&name, cases),
                Kind::Flags { names } => {
                    let _ = writeln!(self.out, "type {name} uint32");
                    self.w("");
                    let _ = writeln!(self.out, "// Flags of {name}.");
                    self.w("const (");
                    for (bit, n) in names.iter().enumerate() {
                        let _ = writeln!(self.out, "\t{name}{} {name} = 1 << {bit}", camel(n));
                    }
                    self.w(")");
                }
                Kind::Resource { resource } => {
                    if self.m.resources[*resource].exported {
                        self.exported_resource(&name, *resource);
                    } else {
                        let _ = writeln!(
                            self.out,
                            "//\n// A handle in the host's table for this instance; 0 is never valid."
                        );
                        let _ = writeln!(self.out, "type {name} uint32");
                    }
                }
                _ => {
                    let structural = self.go_structural(i);
                    let _ = writeln!(self.out, "type {name} = {structural}");
                }
            }
            self.w("");
        }
    }

    fn variant(&mut self, name: &str, cases: &[Case]) {
        let _ =
            writeln!(self.out, "//\n// Tag says which case it holds; only that case's field is meaningful.");
        let _ = writeln!(self.out, "type {name} struct {{");
        let _ = writeln!(self.out, "\tTag {name}Tag");
        for c in cases {
            if let Some(t) = c.ty {
                docs(&mut self.out, "\t", &c.docs);
                let _ = writeln!(self.out, "\t{} {}", camel(&c.name), self.go(t));
            }
        }
        self.w("}");
        self.w("");
        let _ = writeln!(
            self.out,
            "// String returns the WIT name of the case held, with its payload in parentheses if it has one."
        );
        let _ = writeln!(self.out, "func (v {name}) String() string {{");
        let payload_cases: Vec<&Case> = cases.iter().filter(|c| c.ty.is_some()).collect();
        if !payload_cases.is_empty() {
            self.w("	switch v.Tag {");
            for c in payload_cases {
                let field = camel(&c.name);
                let _ = writeln!(self.out, "	case {name}Tag{field}:");
                let _ = writeln!(self.out, "		return cabi.VariantCase({:?}, v.{field})", c.name);
            }
            self.w("	}");
        }
        self.w("	return v.Tag.String()");
        self.w("}");
        self.w("");
        let _ = writeln!(self.out, "// {name}Tag names the cases of {name}.");
        let tag = format!("{name}Tag");
        self.enumeration(&tag, cases);
    }

    fn enumeration(&mut self, name: &str, cases: &[Case]) {
        let width = if cases.len() <= 256 { "uint8" } else { "uint16" };
        let _ = writeln!(self.out, "type {name} {width}");
        self.w("");
        let _ = writeln!(self.out, "// Cases of {name}.");
        self.w("const (");
        for (i, c) in cases.iter().enumerate() {
            docs(&mut self.out, "\t", &c.docs);
            if i == 0 {
                let _ = writeln!(self.out, "\t{name}{} {name} = iota", camel(&c.name));
            } else {
                let _ = writeln!(self.out, "\t{name}{}", camel(&c.name));
            }
        }
        self.w(")");
        self.w("");
        let _ = writeln!(self.out, "var names{name} = [...]string{{");
        for c in cases {
            let _ = writeln!(self.out, "\t{:?},", c.name);
        }
        self.w("}");
        self.w("");
        let _ = writeln!(
            self.out,
            "// String returns the WIT name of the case, or a number for an unknown value."
        );
        let _ = writeln!(self.out, "func (v {name}) String() string {{");
        let _ = writeln!(self.out, "\tif int(v) < len(names{name}) {{\n\t\treturn names{name}[v]\n\t}}");
        let _ = writeln!(self.out, "\treturn cabi.UnknownCase(uint32(v))");
        self.w("}");
    }

    fn exported_resource(&mut self, name: &str, r: usize) {
        let _ = writeln!(
            self.out,
            "//\n// It lives in one instance: use it only with the Exports that made it, and Drop it when done."
        );
        let _ = writeln!(self.out, "type {name} struct {{\n\tx   Exports\n\trep uint32\n}}");
        self.w("");
        let _ = writeln!(self.out, "// Rep is the guest's representation of the resource (its pointer).");
        let _ = writeln!(self.out, "func (r *{name}) Rep() uint32 {{ return r.rep }}");
        self.w("");
        let _ = writeln!(self.out, "// Drop destroys the resource in the guest (its destructor runs).");
        let _ = writeln!(self.out, "func (r *{name}) Drop(ctx context.Context) error {{");
        let _ = writeln!(self.out, "\treturn r.x.C.DropExported(ctx, res{name}, r.rep)");
        self.w("}");
        let _ = r;
    }

    fn descriptors(&mut self) {
        self.w("// Resource descriptors.");
        self.w("var (");
        for (i, r) in self.m.resources.iter().enumerate() {
            let name = self.resource_go(i);
            let _ = writeln!(
                self.out,
                "\tres{name} = &cabi.Resource{{Name: {:?}, Exported: {}, Dtor: {:?}, IntrinsicModule: {:?}}}",
                r.name,
                r.exported,
                r.dtor.clone().unwrap_or_default(),
                r.intrinsic_module.clone().unwrap_or_default()
            );
        }
        self.w(")");
        self.w("");
        self.w("// Type descriptors: layouts computed by wit-parser's SizeAlign (the canonical ABI).");
        self.w("var (");
        for i in 0..self.m.types.len() {
            if matches!(self.m.types[i].kind, Kind::Alias { .. } | Kind::Resource { .. }) {
                continue;
            }
            let body = self.descriptor(i);
            let _ = writeln!(self.out, "\t{} = {body}", self.desc(TyRef::Def(i)));
        }
        self.w(")");
        self.w("");
        self.w("// Types lists every type descriptor with the Go type it maps to, for layout checks.");
        self.w("var Types = []cabi.TypeInfo{");
        for i in 0..self.m.types.len() {
            if matches!(self.m.types[i].kind, Kind::Alias { .. } | Kind::Resource { .. }) {
                continue;
            }
            let go = self.go(TyRef::Def(i));
            let _ = writeln!(
                self.out,
                "\t{{Type: {}, Zero: func() any {{ return new({go}) }}}},",
                self.desc(TyRef::Def(i))
            );
        }
        self.w("}");
        self.w("");
    }

    fn wit_name(&self, t: TyRef) -> String {
        match t {
            TyRef::Prim(p) => p.wit().into(),
            TyRef::Def(i) => {
                let def = &self.m.types[i];
                if let Some(n) = &def.name {
                    return n.clone();
                }
                let opt = |t: Option<TyRef>| t.map(|t| self.wit_name(t)).unwrap_or_else(|| "_".into());
                match &def.kind {
                    Kind::Alias { target } => self.wit_name(*target),
                    Kind::List { elem } => format!("list<{}>", self.wit_name(*elem)),
                    Kind::Option { elem, .. } => format!("option<{}>", self.wit_name(*elem)),
                    Kind::Result { ok, err, .. } => format!("result<{}, {}>", opt(*ok), opt(*err)),
                    Kind::Tuple { fields } => format!(
                        "tuple<{}>",
                        fields.iter().map(|f| self.wit_name(f.ty)).collect::<Vec<_>>().join(", ")
                    ),
                    Kind::Own { resource } => format!("own<{}>", self.m.resources[*resource].name),
                    Kind::Borrow { resource } => format!("borrow<{}>", self.m.resources[*resource].name),
                    _ => format!("type{i}"),
                }
            }
        }
    }

    fn fields_desc(&self, fields: &[Field]) -> String {
        fields
            .iter()
            .map(|f| format!("{{Name: {:?}, Offset: {}, Type: {}}}", f.name, f.offset, self.desc(f.ty)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn descriptor(&self, i: usize) -> String {
        let def = &self.m.types[i];
        let mut s = format!(
            "&cabi.Type{{Name: {:?}, Size: {}, Align: {}",
            self.wit_name(TyRef::Def(i)),
            def.size,
            def.align
        );
        if let Some(flat) = &def.flat {
            let _ = write!(
                s,
                ", Flat: []cabi.FlatType{{{}}}",
                flat.iter().map(|f| flat_go(*f)).collect::<Vec<_>>().join(", ")
            );
        }
        match &def.kind {
            Kind::List { elem } => {
                let _ = write!(s, ", Kind: cabi.KindList, Elem: {}", self.desc(*elem));
                if self.m.map_value(def).is_some() {
                    s.push_str(", GoMap: true");
                }
            }
            Kind::Record { fields } => {
                let _ = write!(
                    s,
                    ", Kind: cabi.KindRecord, Fields: []cabi.Field{{{}}}",
                    self.fields_desc(fields)
                );
            }
            Kind::Tuple { fields } => {
                let _ =
                    write!(s, ", Kind: cabi.KindTuple, Fields: []cabi.Field{{{}}}", self.fields_desc(fields));
            }
            Kind::Variant { cases, disc_size, payload_offset } => {
                let mut field = 0;
                let cases = cases
                    .iter()
                    .map(|c| match c.ty {
                        Some(t) => {
                            field += 1;
                            format!("{{Name: {:?}, Type: {}, GoField: {field}}}", c.name, self.desc(t))
                        }
                        None => format!("{{Name: {:?}, GoField: -1}}", c.name),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = write!(
                    s,
                    ", Kind: cabi.KindVariant, DiscSize: {disc_size}, PayloadOffset: {payload_offset}, Cases: []cabi.Case{{{cases}}}"
                );
            }
            Kind::Enum { cases, disc_size } => {
                let cases = cases
                    .iter()
                    .map(|c| format!("{{Name: {:?}, GoField: -1}}", c.name))
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ =
                    write!(s, ", Kind: cabi.KindEnum, DiscSize: {disc_size}, Cases: []cabi.Case{{{cases}}}");
            }
            Kind::Option { elem, payload_offset } => {
                let _ = write!(
                    s,
                    ", Kind: cabi.KindOption, PayloadOffset: {payload_offset}, Elem: {}",
                    self.desc(*elem)
                );
            }
            Kind::Result { ok, err, payload_offset } => {
                let _ = write!(s, ", Kind: cabi.KindResult, PayloadOffset: {payload_offset}");
                if let Some(ok) = ok {
                    let _ = write!(s, ", Ok: {}", self.desc(*ok));
                }
                if let Some(err) = err {
                    let _ = write!(s, ", Err: {}", self.desc(*err));
                }
            }
            Kind::Flags { names } => {
                let _ = write!(s, ", Kind: cabi.KindFlags, FlagCount: {}", names.len());
            }
            Kind::Own { resource } => {
                let _ = write!(s, ", Kind: cabi.KindOwn, Resource: res{}", self.resource_go(*resource));
            }
            Kind::Borrow { resource } => {
                let _ = write!(s, ", Kind: cabi.KindBorrow, Resource: res{}", self.resource_go(*resource));
            }
            Kind::Alias { .. } | Kind::Resource { .. } => {}
        }
        s.push('}');
        s
    }

    fn func_desc(&self, f: &Func) -> String {
        let params = f.params.iter().map(|p| self.desc(p.ty)).collect::<Vec<_>>().join(", ");
        let flats = |v: &[Flat]| v.iter().map(|f| flat_go(*f)).collect::<Vec<_>>().join(", ");
        let mut s = format!(
            "&cabi.Func{{Module: {:?}, Name: {:?}, Params: []*cabi.Type{{{params}}}, CoreParams: []cabi.FlatType{{{}}}, CoreResults: []cabi.FlatType{{{}}}",
            f.core_module,
            f.core_name,
            flats(&f.signature.params),
            flats(&f.signature.results),
        );
        if let Some(r) = f.result {
            let _ = write!(s, ", Result: {}", self.desc(r));
        }
        if f.signature.indirect_params {
            s.push_str(", IndirectParams: true");
        }
        if f.signature.retptr {
            s.push_str(", RetPtr: true");
        }
        if let Some(post) = &f.post_return {
            let _ = write!(s, ", PostReturn: {post:?}");
        }
        s.push('}');
        s
    }

    /// The Go method name of a function: `[method]fields.entries` → `FieldsEntries`,
    /// `[constructor]x` → `NewX`, `[static]x.y` → `XY`, `handle` → `Handle`.
    fn method_name(f: &Func) -> String {
        let n = &f.wit_name;
        if let Some(rest) = n.strip_prefix("[constructor]") {
            return format!("New{}", camel(rest));
        }
        let rest = n.strip_prefix("[method]").or_else(|| n.strip_prefix("[static]")).unwrap_or(n);
        camel(rest)
    }

    fn exports(&mut self) -> Result<(), GenError> {
        self.w("// Exports calls the component's exports on one instance. An instance runs one call at a");
        self.w("// time: an Exports value is not safe for concurrent use.");
        self.w("type Exports struct {");
        self.w("\t// C is the instance the calls run on.");
        self.w("\tC *cabi.Instance");
        self.w("}");
        self.w("");
        let mut fn_vars = Vec::new();
        for f in &self.m.exports {
            let var = format!("fn{}{}", camel(&f.owner.interface), Self::method_name(f));
            fn_vars.push((var.clone(), self.func_desc(f)));
            self.export_wrapper(f, &var)?;
        }
        self.w("// Export descriptors.");
        self.w("var (");
        for (var, desc) in &fn_vars {
            let _ = writeln!(self.out, "\t{var} = {desc}");
        }
        self.w(")");
        self.w("");
        self.w("// ExportFuncs lists every exported function, for the loader's check of the core module.");
        self.w("var ExportFuncs = []*cabi.Func{");
        for (var, _) in &fn_vars {
            let _ = writeln!(self.out, "\t{var},");
        }
        self.w("}");
        self.w("");
        Ok(())
    }

    /// Wraps an own handle of an exported resource into its Go type, or returns None.
    fn exported_own(&self, t: TyRef) -> Option<String> {
        let TyRef::Def(i) = t else { return None };
        match &self.m.types[i].kind {
            Kind::Own { resource } if self.m.resources[*resource].exported => {
                Some(self.resource_go(*resource))
            }
            Kind::Alias { target } => self.exported_own(*target),
            _ => None,
        }
    }

    fn export_wrapper(&mut self, f: &Func, var: &str) -> Result<(), GenError> {
        let (receiver, recv_expr, params) = match f.kind {
            FuncKind::Method(r) => {
                let name = self.resource_go(r);
                (format!("r *{name}"), "r.x", &f.params[1..])
            }
            _ => ("x Exports".to_string(), "x", &f.params[..]),
        };
        let method = match f.kind {
            // `[method]res.name` → `Name` on the resource's type.
            FuncKind::Method(_) => camel(f.wit_name.rsplit('.').next().unwrap_or(&f.wit_name)),
            FuncKind::Freestanding => format!("{}{}", camel(&f.owner.interface), Self::method_name(f)),
            _ => Self::method_name(f),
        };
        let mut args = vec!["ctx context.Context".to_string()];
        let mut values = Vec::new();
        if let FuncKind::Method(_) = f.kind {
            values.push("r.rep".to_string());
        }
        for p in params {
            let n = lower_camel(&p.name);
            args.push(format!("{n} {}", self.go(p.ty)));
            values.push(n);
        }
        // Result shape.
        let (ok, err) = self.m.returned(f);
        let ok_go = ok.map(|t| match self.exported_own(t) {
            Some(res) => format!("*{res}"),
            None => self.go(t),
        });
        let ret = match &ok_go {
            Some(t) => format!("({t}, error)"),
            None => "error".into(),
        };
        let wit = format!("{}#{}", f.owner.qualified, f.wit_name);
        let _ = writeln!(self.out, "// {method} calls `{wit}`.");
        if !f.docs.is_empty() {
            self.w("//");
            docs(&mut self.out, "", &f.docs);
        }
        let _ = writeln!(self.out, "func ({receiver}) {method}({}) {ret} {{", args.join(", "));
        let params_expr = format!("[]any{{{}}}", values.join(", "));
        let own_res = ok.and_then(|t| self.exported_own(t));
        let wrap = |v: &str| match &own_res {
            Some(res) => format!("&{res}{{x: {recv_expr}, rep: {v}}}"),
            None => v.to_string(),
        };
        match (f.result, err) {
            (None, _) => {
                let _ = writeln!(self.out, "\treturn {recv_expr}.C.Call(ctx, {var}, {params_expr}, nil)");
            }
            (Some(result), Some(err)) => {
                let result_go = self.go(result);
                let err_go = self.go_or_unit(err);
                let _ = writeln!(self.out, "\tvar out {result_go}");
                let _ = writeln!(
                    self.out,
                    "\tif err := {recv_expr}.C.Call(ctx, {var}, {params_expr}, &out); err != nil {{"
                );
                match &ok_go {
                    Some(t) => {
                        let _ = writeln!(self.out, "\t\tvar zero {t}\n\t\treturn zero, err\n\t}}");
                        let _ = writeln!(
                            self.out,
                            "\tif out.IsErr {{\n\t\tvar zero {t}\n\t\treturn zero, &cabi.ResultError[{err_go}]{{Value: out.Err}}\n\t}}"
                        );
                        let _ = writeln!(self.out, "\treturn {}, nil", wrap("out.Ok"));
                    }
                    None => {
                        let _ = writeln!(self.out, "\t\treturn err\n\t}}");
                        let _ = writeln!(
                            self.out,
                            "\tif out.IsErr {{\n\t\treturn &cabi.ResultError[{err_go}]{{Value: out.Err}}\n\t}}"
                        );
                        self.w("\treturn nil");
                    }
                }
            }
            (Some(result), None) => {
                let _ = writeln!(self.out, "\tvar out {}", self.go(result));
                let _ = writeln!(
                    self.out,
                    "\tif err := {recv_expr}.C.Call(ctx, {var}, {params_expr}, &out); err != nil {{"
                );
                let t = ok_go.clone().unwrap_or_default();
                let _ = writeln!(self.out, "\t\tvar zero {t}\n\t\treturn zero, err\n\t}}");
                let _ = writeln!(self.out, "\treturn {}, nil", wrap("out"));
            }
        }
        self.w("}");
        self.w("");
        Ok(())
    }

    fn imports(&mut self) -> Result<(), GenError> {
        // One Go interface per imported WIT interface, embedded in Host.
        let mut interfaces: Vec<(String, String)> = Vec::new();
        let mut methods_seen = BTreeSet::new();
        let mut glue = Vec::new();
        for f in &self.m.imports {
            if !interfaces.iter().any(|(q, _)| *q == f.owner.qualified) {
                interfaces.push((
                    f.owner.qualified.clone(),
                    format!("{}{}Host", package_prefix(&f.owner.package), camel(&f.owner.interface)),
                ));
            }
        }
        self.w("// Host implements every import the core module uses. The engine calls it with the");
        self.w("// context of the export call in progress; the methods run on the caller's goroutine.");
        self.w("type Host interface {");
        for (_, iface) in &interfaces {
            let _ = writeln!(self.out, "\t{iface}");
        }
        self.w("}");
        self.w("");
        for (qualified, iface) in interfaces.clone() {
            let _ = writeln!(
                self.out,
                "// {iface} implements the imports of `{qualified}` the core module uses."
            );
            let _ = writeln!(self.out, "type {iface} interface {{");
            for f in self.m.imports.iter().filter(|f| f.owner.qualified == qualified) {
                let method = Self::method_name(f);
                if !methods_seen.insert(method.clone()) {
                    return Err(GenError::Unsupported(format!(
                        "two imports map to the Go method `{method}`"
                    )));
                }
                let mut args = vec!["ctx context.Context".to_string()];
                let mut names = Vec::new();
                for p in &f.params {
                    let n = lower_camel(&p.name);
                    args.push(format!("{n} {}", self.go(p.ty)));
                    names.push(n);
                }
                let ret = f.result.map(|t| format!(" {}", self.go(t))).unwrap_or_default();
                let _ = writeln!(self.out, "\t// {method} implements `{}`.", f.wit_name);
                let _ = writeln!(self.out, "\t{method}({}){ret}", args.join(", "));
                glue.push((f.clone(), method, names));
            }
            for (module, name, r) in self.m.resource_drops.clone() {
                if module != qualified {
                    continue;
                }
                let res = self.resource_go(r);
                let method = format!("Drop{}", camel(&self.m.resources[r].name));
                if !methods_seen.insert(method.clone()) {
                    return Err(GenError::Unsupported(format!(
                        "two imports map to the Go method `{method}`"
                    )));
                }
                let _ =
                    writeln!(self.out, "\t// {method} implements `{name}`: the guest dropped its handle.");
                let _ = writeln!(self.out, "\t{method}(ctx context.Context, handle {res})");
            }
            self.w("}");
            self.w("");
        }
        // The import table.
        self.w("// Imports lists every core import of the main module with its host function.");
        self.w("var Imports = []cabi.Import{");
        for (f, method, names) in &glue {
            let _ = writeln!(
                self.out,
                "\t{{Func: {}, Host: func(ctx context.Context, c *cabi.Instance, a *cabi.Args) {{",
                self.func_desc(f)
            );
            let h = "c.Host.(Host)";
            for (i, (p, n)) in f.params.iter().zip(names).enumerate() {
                let _ = writeln!(self.out, "\t\tvar {n} {}", self.go(p.ty));
                let _ = writeln!(self.out, "\t\ta.Lift({i}, &{n})");
            }
            let call = format!(
                "{h}.{method}({})",
                std::iter::once("ctx".to_string())
                    .chain(names.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if f.result.is_some() {
                let _ = writeln!(self.out, "\t\tout := {call}");
                self.w("\t\ta.Return(&out)");
            } else {
                let _ = writeln!(self.out, "\t\t{call}");
            }
            self.w("\t}},");
        }
        for (module, name, r) in &self.m.resource_drops {
            let res = self.resource_go(*r);
            let method = format!("Drop{}", camel(&self.m.resources[*r].name));
            let _ = writeln!(
                self.out,
                "\t{{Func: &cabi.Func{{Module: {module:?}, Name: {name:?}, CoreParams: []cabi.FlatType{{cabi.FlatI32}}}}, Host: func(ctx context.Context, c *cabi.Instance, a *cabi.Args) {{"
            );
            let _ = writeln!(self.out, "\t\tc.Host.(Host).{method}(ctx, {res}(a.Raw(0)))");
            self.w("\t}},");
        }
        // Intrinsics of exported resources: the ones the core module imports.
        for (i, r) in self.m.resources.iter().enumerate() {
            if !r.exported {
                continue;
            }
            let res = self.resource_go(i);
            for &wit in &r.intrinsics {
                let (intrinsic, params, results) = match wit {
                    "[resource-new]" => ("ResourceNew", "cabi.FlatI32", "cabi.FlatI32"),
                    "[resource-rep]" => ("ResourceRep", "cabi.FlatI32", "cabi.FlatI32"),
                    _ => ("ResourceDrop", "cabi.FlatI32", ""),
                };
                let _ = writeln!(
                    self.out,
                    "\t{{Func: &cabi.Func{{Module: {:?}, Name: \"{wit}{}\", CoreParams: []cabi.FlatType{{{params}}}, CoreResults: []cabi.FlatType{{{results}}}}}, Resource: res{res}, Intrinsic: cabi.{intrinsic}}},",
                    r.intrinsic_module.clone().unwrap_or_default(),
                    r.name,
                );
            }
        }
        self.w("}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CoreNames, build};

    fn model(wit: &str) -> Model {
        let mut resolve = wit_parser::Resolve::default();
        let pkg = resolve.push_str("test.wit", wit).unwrap();
        let world = resolve.select_world(&[pkg], Some("w")).unwrap();
        let core = CoreNames { imports: Default::default(), exports: Default::default() };
        build(&resolve, world, &core).unwrap()
    }

    #[test]
    fn wit_names_become_go_names() {
        assert_eq!(camel("vm-config"), "VmConfig");
        assert_eq!(camel("HTTP-request-denied"), "HTTPRequestDenied");
        assert_eq!(lower_camel("type"), "type_");
        assert_eq!(lower_camel("len"), "len_");
    }

    #[test]
    fn two_types_with_one_go_name_are_an_error() {
        let m = model(
            "package a:b; interface i { record x-y { a: u8 } } interface j { record x-y { b: u8 } } world w { export i; export j; }",
        );
        let err = render(&m, &GoOptions { package: "p".into(), cabi_import: "c".into() }).unwrap_err();
        assert!(err.to_string().contains("XY"), "{err}");
    }

    #[test]
    fn variants_print_their_case_and_payload() {
        let m = model(
            "package a:b; interface i { variant v { x, y(u64) } f: func(v: v); } world w { export i; }",
        );
        let go = render(&m, &GoOptions { package: "p".into(), cabi_import: "c".into() }).unwrap();
        assert!(
            go.contains(
                "func (v ABV) String() string {\n\tswitch v.Tag {\n\tcase ABVTagY:\n\t\treturn cabi.VariantCase(\"y\", v.Y)\n\t}\n\treturn v.Tag.String()\n}"
            ),
            "{go}"
        );
    }

    #[test]
    fn layouts_follow_the_canonical_abi() {
        let m = model(
            "package a:b; interface i { record r { a: u8, b: u64, c: string } variant v { x, y(u64), z(f32) } \
             f: func(r: r, v: v) -> option<string>; } world w { export i; }",
        );
        let r = m.types.iter().find(|t| t.name.as_deref() == Some("r")).unwrap();
        assert_eq!((r.size, r.align), (24, 8));
        let Kind::Record { fields } = &r.kind else { panic!() };
        assert_eq!(fields.iter().map(|f| f.offset).collect::<Vec<_>>(), [0, 8, 16]);
        let v = m.types.iter().find(|t| t.name.as_deref() == Some("v")).unwrap();
        assert_eq!(v.flat.as_deref(), Some(&[Flat::I32, Flat::I64][..]));
        let f = &m.exports[0];
        assert!(f.signature.retptr);
        assert_eq!(f.signature.params.len(), 1 + 1 + 2 + 2);
    }
}
