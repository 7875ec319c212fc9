//! The language-neutral model of a world: every type with its canonical-ABI layout, every
//! exported and imported function with its core-wasm signature and names.
//!
//! Layouts (size, alignment, field and payload offsets, flattening) come from wit-parser's
//! `SizeAlign` and `push_flat`, the transliteration of the component model's canonical ABI
//! (`CanonicalABI.md` in the WebAssembly/component-model repository). Language emitters
//! (`go.rs`) only print this model; they compute no layout themselves.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use wit_parser::abi::{AbiVariant, FlatTypes, WasmType};
use wit_parser::{
    Function, FunctionKind, Handle, InterfaceId, LiftLowerAbi, ManglingAndAbi, Resolve, SizeAlign, Type,
    TypeDefKind, TypeId, TypeOwner, WasmExport, WasmExportKind, WasmImport, WorldId, WorldItem, WorldKey,
};

use crate::GenError;

/// Flat types are listed up to this many; longer lists are never passed flat (the canonical
/// ABI spills anything over 16 parameters or 1 result to memory).
const MAX_FLAT_LISTED: usize = 64;

/// A core-wasm value type in a flattened signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flat {
    /// `i32` (also pointers and lengths).
    I32,
    /// `i64`.
    I64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl From<WasmType> for Flat {
    fn from(t: WasmType) -> Self {
        match t {
            WasmType::I32 | WasmType::Pointer | WasmType::Length => Flat::I32,
            WasmType::I64 | WasmType::PointerOrI64 => Flat::I64,
            WasmType::F32 => Flat::F32,
            WasmType::F64 => Flat::F64,
        }
    }
}

/// A primitive WIT type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Prim {
    /// `bool`
    Bool,
    /// `u8`
    U8,
    /// `s8`
    S8,
    /// `u16`
    U16,
    /// `s16`
    S16,
    /// `u32`
    U32,
    /// `s32`
    S32,
    /// `u64`
    U64,
    /// `s64`
    S64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `char`
    Char,
    /// `string`
    String,
}

impl Prim {
    /// The WIT spelling.
    pub fn wit(self) -> &'static str {
        match self {
            Prim::Bool => "bool",
            Prim::U8 => "u8",
            Prim::S8 => "s8",
            Prim::U16 => "u16",
            Prim::S16 => "s16",
            Prim::U32 => "u32",
            Prim::S32 => "s32",
            Prim::U64 => "u64",
            Prim::S64 => "s64",
            Prim::F32 => "f32",
            Prim::F64 => "f64",
            Prim::Char => "char",
            Prim::String => "string",
        }
    }
}

/// A reference to a type: a primitive or an entry of [`Model::types`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TyRef {
    /// A primitive.
    Prim(Prim),
    /// Index into [`Model::types`].
    Def(usize),
}

/// Where a named type or function lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// `namespace:package`, e.g. `metald:client` or `wasi:http`.
    pub package: String,
    /// Interface name, e.g. `types`.
    pub interface: String,
    /// The interface's full name as the core module spells it, e.g.
    /// `metald:client/types@0.1.0`.
    pub qualified: String,
}

/// A record field or tuple element, with its byte offset.
#[derive(Clone, Debug, Serialize)]
pub struct Field {
    /// WIT name (`0`, `1`, … for tuples).
    pub name: String,
    /// Byte offset inside the record.
    pub offset: u32,
    /// Its type.
    pub ty: TyRef,
    /// Doc comment.
    pub docs: String,
}

/// A variant case.
#[derive(Clone, Debug, Serialize)]
pub struct Case {
    /// WIT name.
    pub name: String,
    /// Payload type, if any.
    pub ty: Option<TyRef>,
    /// Doc comment.
    pub docs: String,
}

/// The shape of a type definition.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Kind {
    /// `type a = b`.
    Alias {
        /// The aliased type.
        target: TyRef,
    },
    /// `list<T>`.
    List {
        /// Element type.
        elem: TyRef,
    },
    /// A record.
    Record {
        /// Fields in order.
        fields: Vec<Field>,
    },
    /// `tuple<…>`.
    Tuple {
        /// Elements in order, named `0`, `1`, ….
        fields: Vec<Field>,
    },
    /// A variant.
    Variant {
        /// Cases in order.
        cases: Vec<Case>,
        /// Discriminant size in bytes.
        disc_size: u32,
        /// Offset of the payload.
        payload_offset: u32,
    },
    /// An enum.
    Enum {
        /// Cases in order.
        cases: Vec<Case>,
        /// Discriminant size in bytes.
        disc_size: u32,
    },
    /// `option<T>`.
    Option {
        /// The `some` payload.
        elem: TyRef,
        /// Offset of the payload.
        payload_offset: u32,
    },
    /// `result<T, E>`.
    Result {
        /// `ok` payload.
        ok: Option<TyRef>,
        /// `err` payload.
        err: Option<TyRef>,
        /// Offset of the payload.
        payload_offset: u32,
    },
    /// `flags`.
    Flags {
        /// Flag names, bit 0 first.
        names: Vec<String>,
    },
    /// A resource type itself (never a value).
    Resource {
        /// Index into [`Model::resources`].
        resource: usize,
    },
    /// `own<R>`.
    Own {
        /// Index into [`Model::resources`].
        resource: usize,
    },
    /// `borrow<R>`.
    Borrow {
        /// Index into [`Model::resources`].
        resource: usize,
    },
}

impl Kind {
    /// The known case names of an open protobuf enum: a variant of payload-less cases (in
    /// wire-number order) followed by `unknown(s32)`, which holds any other number.
    pub fn open_enum(&self) -> Option<Vec<&str>> {
        let Kind::Variant { cases, .. } = self else { return None };
        let (last, known) = cases.split_last()?;
        let open = !known.is_empty()
            && last.name == "unknown"
            && last.ty == Some(TyRef::Prim(Prim::S32))
            && known.iter().all(|c| c.ty.is_none());
        open.then(|| known.iter().map(|c| c.name.as_str()).collect())
    }
}

/// One type definition with its layout.
#[derive(Clone, Debug, Serialize)]
pub struct TypeDef {
    /// The WIT name, for named types.
    pub name: Option<String>,
    /// The interface that defines it, for named types.
    pub owner: Option<Owner>,
    /// Shape.
    #[serde(flatten)]
    pub kind: Kind,
    /// Size in linear memory, bytes.
    pub size: u32,
    /// Alignment in linear memory, bytes.
    pub align: u32,
    /// The flattened core types, when there are at most 64.
    pub flat: Option<Vec<Flat>>,
    /// Doc comment.
    pub docs: String,
}

/// A resource type.
#[derive(Clone, Debug, Serialize)]
pub struct Resource {
    /// WIT name.
    pub name: String,
    /// Defining interface.
    pub owner: Owner,
    /// True for resources the component exports (their handles map to the guest's reps).
    pub exported: bool,
    /// For exported resources: the core export that destroys a rep (`…#[dtor]name`).
    pub dtor: Option<String>,
    /// For exported resources: the core import module of `[resource-new]` etc.
    pub intrinsic_module: Option<String>,
    /// For exported resources: which of [`INTRINSICS`] the core module imports (the
    /// optimiser drops those the guest never calls).
    pub intrinsics: Vec<&'static str>,
    /// Doc comment.
    pub docs: String,
}

/// How a function relates to a resource.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "resource")]
pub enum FuncKind {
    /// A freestanding function.
    Freestanding,
    /// `constructor` of the resource.
    Constructor(usize),
    /// A method: the first parameter is `self`.
    Method(usize),
    /// A static function of the resource.
    Static(usize),
}

/// A parameter.
#[derive(Clone, Debug, Serialize)]
pub struct Param {
    /// WIT name.
    pub name: String,
    /// Type.
    pub ty: TyRef,
}

/// The core-wasm signature of a function after lowering.
#[derive(Clone, Debug, Serialize)]
pub struct CoreSignature {
    /// Core parameters (a single pointer when `indirect_params`; a trailing return pointer
    /// for imports with `retptr`).
    pub params: Vec<Flat>,
    /// Core results (a single pointer for exports with `retptr`).
    pub results: Vec<Flat>,
    /// Parameters are passed in memory (more than 16 flat values).
    pub indirect_params: bool,
    /// The result is passed in memory.
    pub retptr: bool,
}

/// An exported or imported function.
#[derive(Clone, Debug, Serialize)]
pub struct Func {
    /// Defining interface.
    pub owner: Owner,
    /// WIT name (`[method]client.create-vm`, `template-config`, …).
    pub wit_name: String,
    /// Resource relation.
    pub kind: FuncKind,
    /// Parameters (`self` first for methods).
    pub params: Vec<Param>,
    /// Result type.
    pub result: Option<TyRef>,
    /// Core module name: the import module for imports, empty for exports.
    pub core_module: String,
    /// Core function name.
    pub core_name: String,
    /// `cabi_post_…` export, for exports whose core module has one.
    pub post_return: Option<String>,
    /// Core signature.
    pub signature: CoreSignature,
    /// Doc comment.
    pub docs: String,
}

/// The whole world as emitters see it.
#[derive(Clone, Debug, Serialize)]
pub struct Model {
    /// Every type reachable from the world's interfaces, dependencies first.
    pub types: Vec<TypeDef>,
    /// Resources.
    pub resources: Vec<Resource>,
    /// Exported functions, in WIT order.
    pub exports: Vec<Func>,
    /// Imported functions the core module uses, in WIT order.
    pub imports: Vec<Func>,
    /// Imported resource drops the core module uses: (module, name, resource).
    pub resource_drops: Vec<(String, String, usize)>,
    /// The interfaces the world exports, in WIT order (`types` has types but no functions).
    pub exported_interfaces: Vec<Owner>,
}

impl Model {
    /// What a caller of `f` gets back: for an anonymous `result<T, E>`, the `ok` payload `T`
    /// and `Some(E)` (the `err` payload, `None` for `result<T>`); for any other result type,
    /// that type and `None`.
    pub fn returned(&self, f: &Func) -> (Option<TyRef>, Option<Option<TyRef>>) {
        match f.result {
            Some(TyRef::Def(i)) => match &self.types[i].kind {
                Kind::Result { ok, err, .. } if self.types[i].name.is_none() => (*ok, Some(*err)),
                _ => (f.result, None),
            },
            other => (other, None),
        }
    }

    /// Whether `def` is a `use` of a type from another interface: an alias with the target's
    /// own name. Emitters give it no declaration of its own; its name is the target's.
    pub fn is_use(&self, def: &TypeDef) -> bool {
        matches!((&def.name, &def.kind), (Some(name), Kind::Alias { target: TyRef::Def(t) }) if self.types[*t].name.as_ref() == Some(name))
    }

    /// Whether `def` is a protobuf map: a named `list<tuple<string, V>>` whose name ends in
    /// `-map`. Returns the value type `V`.
    pub fn map_value(&self, def: &TypeDef) -> Option<TyRef> {
        let (Some(name), Kind::List { elem: TyRef::Def(e) }) = (&def.name, &def.kind) else { return None };
        match &self.types[*e].kind {
            Kind::Tuple { fields }
                if name.ends_with("-map")
                    && fields.len() == 2
                    && fields[0].ty == TyRef::Prim(Prim::String) =>
            {
                Some(fields[1].ty)
            }
            _ => None,
        }
    }
}

/// What the component's core module declares, to select imports and post-returns.
pub struct CoreNames {
    /// `(module, name)` of every function import.
    pub imports: BTreeSet<(String, String)>,
    /// Every export name.
    pub exports: BTreeSet<String>,
}

struct Builder<'a> {
    resolve: &'a Resolve,
    sizes: SizeAlign,
    model: Model,
    by_id: HashMap<TypeId, usize>,
    resource_by_id: HashMap<TypeId, usize>,
    exported_interfaces: BTreeSet<InterfaceId>,
}

/// Builds the model of `world`; `core` selects the imports the core module uses.
pub fn build(resolve: &Resolve, world: WorldId, core: &CoreNames) -> Result<Model, GenError> {
    let mut sizes = SizeAlign::default();
    sizes.fill(resolve).map_err(|e| GenError::Wit(format!("{e:#}")))?;
    let world_def = &resolve.worlds[world];
    let exported_interfaces = world_def
        .exports
        .values()
        .filter_map(|item| match item {
            WorldItem::Interface { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    let mut b = Builder {
        resolve,
        sizes,
        model: Model {
            types: vec![],
            resources: vec![],
            exports: vec![],
            imports: vec![],
            resource_drops: vec![],
            exported_interfaces: vec![],
        },
        by_id: HashMap::new(),
        resource_by_id: HashMap::new(),
        exported_interfaces,
    };
    for (direction, items) in
        [(AbiVariant::GuestImport, &world_def.imports), (AbiVariant::GuestExport, &world_def.exports)]
    {
        for (key, item) in items {
            let WorldItem::Interface { id, .. } = item else {
                return Err(GenError::Unsupported(format!(
                    "world item `{}`: only interfaces are supported",
                    resolve.name_world_key(key)
                )));
            };
            if direction == AbiVariant::GuestExport {
                let owner = b.owner(*id);
                b.model.exported_interfaces.push(owner);
            }
            b.interface(key, *id, direction, core)?;
        }
    }
    for r in &mut b.model.resources {
        if let Some(module) = &r.intrinsic_module {
            r.intrinsics = INTRINSICS
                .into_iter()
                .filter(|intrinsic| {
                    core.imports.contains(&(module.clone(), format!("{intrinsic}{}", r.name)))
                })
                .collect();
        }
    }
    Ok(b.model)
}

/// The canonical ABI's built-ins for an exported resource, as core import name prefixes.
pub const INTRINSICS: [&str; 3] = ["[resource-new]", "[resource-rep]", "[resource-drop]"];

impl Builder<'_> {
    fn owner(&self, id: InterfaceId) -> Owner {
        let iface = &self.resolve.interfaces[id];
        let package = iface.package.map(|p| &self.resolve.packages[p].name);
        Owner {
            package: package.map(|p| format!("{}:{}", p.namespace, p.name)).unwrap_or_default(),
            interface: iface.name.clone().unwrap_or_default(),
            qualified: self.resolve.id_of(id).unwrap_or_default(),
        }
    }

    fn interface(
        &mut self,
        key: &WorldKey,
        id: InterfaceId,
        direction: AbiVariant,
        core: &CoreNames,
    ) -> Result<(), GenError> {
        let iface = &self.resolve.interfaces[id];
        for ty in iface.types.values() {
            self.def(*ty)?;
        }
        let mangling = ManglingAndAbi::Legacy(LiftLowerAbi::Sync);
        for func in iface.functions.values() {
            match direction {
                AbiVariant::GuestImport => {
                    let (module, name) = self
                        .resolve
                        .wasm_import_name(mangling, WasmImport::Func { interface: Some(key), func });
                    if core.imports.contains(&(module.clone(), name.clone())) {
                        let f = self.func(id, func, direction, module, name, None)?;
                        self.model.imports.push(f);
                    }
                }
                _ => {
                    let name = self.resolve.wasm_export_name(
                        mangling,
                        WasmExport::Func { interface: Some(key), func, kind: WasmExportKind::Normal },
                    );
                    let post = self.resolve.wasm_export_name(
                        mangling,
                        WasmExport::Func { interface: Some(key), func, kind: WasmExportKind::PostReturn },
                    );
                    let post = core.exports.contains(&post).then_some(post);
                    let f = self.func(id, func, direction, String::new(), name, post)?;
                    self.model.exports.push(f);
                }
            }
        }
        // Drops of imported resources the core module uses.
        if direction == AbiVariant::GuestImport {
            for ty in iface.types.values() {
                if matches!(self.resolve.types[*ty].kind, TypeDefKind::Resource) {
                    let (module, name) = self.resolve.wasm_import_name(
                        mangling,
                        WasmImport::ResourceIntrinsic {
                            interface: Some(key),
                            resource: *ty,
                            intrinsic: wit_parser::ResourceIntrinsic::ImportedDrop,
                        },
                    );
                    if core.imports.contains(&(module.clone(), name.clone())) {
                        let r = self.resource_index(*ty)?;
                        self.model.resource_drops.push((module, name, r));
                    }
                }
            }
        }
        Ok(())
    }

    fn func(
        &mut self,
        iface: InterfaceId,
        func: &Function,
        direction: AbiVariant,
        core_module: String,
        core_name: String,
        post_return: Option<String>,
    ) -> Result<Func, GenError> {
        let kind = match &func.kind {
            FunctionKind::Freestanding => FuncKind::Freestanding,
            FunctionKind::Constructor(r) => FuncKind::Constructor(self.resource_index(*r)?),
            FunctionKind::Method(r) => FuncKind::Method(self.resource_index(*r)?),
            FunctionKind::Static(r) => FuncKind::Static(self.resource_index(*r)?),
            other => {
                return Err(GenError::Unsupported(format!("function `{}`: kind {other:?}", func.name)));
            }
        };
        let mut params = Vec::with_capacity(func.params.len());
        for p in &func.params {
            params.push(Param { name: p.name.clone(), ty: self.ty(&p.ty)? });
        }
        let result = func.result.as_ref().map(|t| self.ty(t)).transpose()?;
        let sig = self.resolve.wasm_signature(direction, func);
        Ok(Func {
            owner: self.owner(iface),
            wit_name: func.name.clone(),
            kind,
            params,
            result,
            core_module,
            core_name,
            post_return,
            signature: CoreSignature {
                params: sig.params.iter().map(|t| Flat::from(*t)).collect(),
                results: sig.results.iter().map(|t| Flat::from(*t)).collect(),
                indirect_params: sig.indirect_params,
                retptr: sig.retptr,
            },
            docs: func.docs.contents.clone().unwrap_or_default(),
        })
    }

    fn resource_index(&mut self, id: TypeId) -> Result<usize, GenError> {
        let id = dealias(self.resolve, id);
        if let Some(i) = self.resource_by_id.get(&id) {
            return Ok(*i);
        }
        let def = &self.resolve.types[id];
        let TypeOwner::Interface(iface) = def.owner else {
            return Err(GenError::Unsupported("a resource outside an interface".into()));
        };
        let name = def.name.clone().unwrap_or_default();
        let exported = self.exported_interfaces.contains(&iface);
        let owner = self.owner(iface);
        let (dtor, intrinsic_module) = if exported {
            (Some(format!("{}#[dtor]{name}", owner.qualified)), Some(format!("[export]{}", owner.qualified)))
        } else {
            (None, None)
        };
        self.model.resources.push(Resource {
            name,
            owner,
            exported,
            dtor,
            intrinsic_module,
            intrinsics: Vec::new(),
            docs: def.docs.contents.clone().unwrap_or_default(),
        });
        let i = self.model.resources.len() - 1;
        self.resource_by_id.insert(id, i);
        Ok(i)
    }

    fn ty(&mut self, ty: &Type) -> Result<TyRef, GenError> {
        Ok(match ty {
            Type::Bool => TyRef::Prim(Prim::Bool),
            Type::U8 => TyRef::Prim(Prim::U8),
            Type::S8 => TyRef::Prim(Prim::S8),
            Type::U16 => TyRef::Prim(Prim::U16),
            Type::S16 => TyRef::Prim(Prim::S16),
            Type::U32 => TyRef::Prim(Prim::U32),
            Type::S32 => TyRef::Prim(Prim::S32),
            Type::U64 => TyRef::Prim(Prim::U64),
            Type::S64 => TyRef::Prim(Prim::S64),
            Type::F32 => TyRef::Prim(Prim::F32),
            Type::F64 => TyRef::Prim(Prim::F64),
            Type::Char => TyRef::Prim(Prim::Char),
            Type::String => TyRef::Prim(Prim::String),
            Type::ErrorContext => return Err(GenError::Unsupported("error-context".into())),
            Type::Id(id) => TyRef::Def(self.def(*id)?),
        })
    }

    fn def(&mut self, id: TypeId) -> Result<usize, GenError> {
        if let Some(i) = self.by_id.get(&id) {
            return Ok(*i);
        }
        let def = &self.resolve.types[id];
        let kind = match &def.kind {
            TypeDefKind::Type(t) => Kind::Alias { target: self.ty(t)? },
            TypeDefKind::List(t) => Kind::List { elem: self.ty(t)? },
            TypeDefKind::Record(r) => {
                let offsets = self.sizes.field_offsets(r.fields.iter().map(|f| &f.ty));
                let mut fields = Vec::new();
                for ((offset, _), f) in offsets.into_iter().zip(&r.fields) {
                    fields.push(Field {
                        name: f.name.clone(),
                        offset: offset.size_wasm32() as u32,
                        ty: self.ty(&f.ty)?,
                        docs: f.docs.contents.clone().unwrap_or_default(),
                    });
                }
                Kind::Record { fields }
            }
            TypeDefKind::Tuple(t) => {
                let offsets = self.sizes.field_offsets(t.types.iter());
                let mut fields = Vec::new();
                for (i, ((offset, _), ty)) in offsets.into_iter().zip(&t.types).enumerate() {
                    fields.push(Field {
                        name: i.to_string(),
                        offset: offset.size_wasm32() as u32,
                        ty: self.ty(ty)?,
                        docs: String::new(),
                    });
                }
                Kind::Tuple { fields }
            }
            TypeDefKind::Variant(v) => {
                let mut cases = Vec::new();
                for c in &v.cases {
                    cases.push(Case {
                        name: c.name.clone(),
                        ty: c.ty.as_ref().map(|t| self.ty(t)).transpose()?,
                        docs: c.docs.contents.clone().unwrap_or_default(),
                    });
                }
                let payload_offset =
                    self.sizes.payload_offset(v.tag(), v.cases.iter().map(|c| c.ty.as_ref())).size_wasm32()
                        as u32;
                Kind::Variant { cases, disc_size: disc_size(v.cases.len()), payload_offset }
            }
            TypeDefKind::Enum(e) => Kind::Enum {
                cases: e
                    .cases
                    .iter()
                    .map(|c| Case {
                        name: c.name.clone(),
                        ty: None,
                        docs: c.docs.contents.clone().unwrap_or_default(),
                    })
                    .collect(),
                disc_size: disc_size(e.cases.len()),
            },
            TypeDefKind::Option(t) => {
                let payload_offset =
                    self.sizes.payload_offset(wit_parser::Int::U8, [None, Some(t)]).size_wasm32() as u32;
                Kind::Option { elem: self.ty(t)?, payload_offset }
            }
            TypeDefKind::Result(r) => {
                let payload_offset = self
                    .sizes
                    .payload_offset(wit_parser::Int::U8, [r.ok.as_ref(), r.err.as_ref()])
                    .size_wasm32() as u32;
                Kind::Result {
                    ok: r.ok.as_ref().map(|t| self.ty(t)).transpose()?,
                    err: r.err.as_ref().map(|t| self.ty(t)).transpose()?,
                    payload_offset,
                }
            }
            TypeDefKind::Flags(f) => {
                if f.flags.len() > 32 {
                    return Err(GenError::Unsupported("flags with more than 32 members".into()));
                }
                Kind::Flags { names: f.flags.iter().map(|f| f.name.clone()).collect() }
            }
            TypeDefKind::Resource => Kind::Resource { resource: self.resource_index(id)? },
            TypeDefKind::Handle(Handle::Own(r)) => Kind::Own { resource: self.resource_index(*r)? },
            TypeDefKind::Handle(Handle::Borrow(r)) => Kind::Borrow { resource: self.resource_index(*r)? },
            other => {
                return Err(GenError::Unsupported(format!("type kind `{}`", other.as_str())));
            }
        };
        let ty = Type::Id(id);
        // A resource type (or an alias of one, from `use`) is not a value: no layout.
        let is_resource = matches!(self.resolve.types[dealias(self.resolve, id)].kind, TypeDefKind::Resource);
        let (size, align) = if is_resource {
            (0, 1)
        } else {
            (self.sizes.size(&ty).size_wasm32() as u32, self.sizes.align(&ty).align_wasm32() as u32)
        };
        let flat = match is_resource {
            true => None,
            false => {
                let mut storage = [WasmType::I32; MAX_FLAT_LISTED];
                let mut flat = FlatTypes::new(&mut storage);
                self.resolve
                    .push_flat(&ty, &mut flat)
                    .then(|| flat.to_vec().into_iter().map(Flat::from).collect())
            }
        };
        let owner = match (&def.name, def.owner) {
            (Some(_), TypeOwner::Interface(i)) => Some(self.owner(i)),
            _ => None,
        };
        self.model.types.push(TypeDef {
            name: def.name.clone(),
            owner,
            kind,
            size,
            align,
            flat,
            docs: def.docs.contents.clone().unwrap_or_default(),
        });
        let i = self.model.types.len() - 1;
        self.by_id.insert(id, i);
        Ok(i)
    }
}

fn dealias(resolve: &Resolve, mut id: TypeId) -> TypeId {
    while let TypeDefKind::Type(Type::Id(next)) = resolve.types[id].kind {
        id = next;
    }
    id
}

fn disc_size(cases: usize) -> u32 {
    match cases {
        0..=256 => 1,
        257..=65536 => 2,
        _ => 4,
    }
}
