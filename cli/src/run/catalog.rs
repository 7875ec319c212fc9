//! What the component exports, by name: free functions, constructors, static functions and
//! methods of every exported interface, as `wasmtime run --invoke` finds them, plus resources.

use wasmtime::Engine;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ResourceType, Type};

/// How an export is called.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `name(args)`.
    Free,
    /// `resource(args)`: makes a resource.
    Constructor,
    /// `resource.name(args)`.
    Static,
    /// `variable.name(args)` on a resource.
    Method,
}

/// One exported function.
#[derive(Clone, Debug)]
pub struct Export {
    /// Interface, e.g. `metald:client/builder@0.1.0`.
    pub interface: String,
    /// Export name, e.g. `[method]vm-config-builder.with-cpu`.
    pub export: String,
    /// How it is called.
    pub kind: Kind,
    /// The resource of a constructor, static or method.
    pub resource: Option<String>,
    /// The name it is called by (`with-cpu`, or the resource name for constructors).
    pub name: String,
    /// Its type.
    pub ty: ComponentFunc,
}

impl Export {
    /// `builder.vm-config-builder.with-cpu`-style name for messages.
    pub fn qualified(&self) -> String {
        let interface = short_interface(&self.interface);
        match (&self.kind, &self.resource) {
            (Kind::Free, _) | (_, None) => format!("{interface}.{}", self.name),
            (Kind::Constructor, Some(resource)) => format!("{interface}.{resource}"),
            (_, Some(resource)) => format!("{interface}.{resource}.{}", self.name),
        }
    }

    /// Parameters a caller writes (a method's `self` is the receiver).
    pub fn arity(&self) -> usize {
        self.ty.params().len() - usize::from(self.kind == Kind::Method)
    }
}

/// `metald:client/builder@0.1.0` -> `builder`.
pub fn short_interface(interface: &str) -> &str {
    let name = interface.rsplit('/').next().unwrap_or(interface);
    name.split('@').next().unwrap_or(name)
}

/// Every export of the component.
pub struct Catalog {
    exports: Vec<Export>,
    resources: Vec<(ResourceType, String, String)>,
}

/// Why a name did not resolve.
#[derive(Debug, PartialEq, Eq)]
pub struct Unresolved(pub String);

impl Catalog {
    /// Reads the component's type.
    pub fn new(engine: &Engine, component: &Component) -> Catalog {
        let mut exports = Vec::new();
        let mut resources = Vec::new();
        for (interface, item) in component.component_type().exports(engine) {
            let ComponentItem::ComponentInstance(instance) = item.ty else { continue };
            for (export, item) in instance.exports(engine) {
                match item.ty {
                    ComponentItem::ComponentFunc(ty) => {
                        let (kind, resource, name) = classify(export);
                        exports.push(Export {
                            interface: interface.to_string(),
                            export: export.to_string(),
                            kind,
                            resource,
                            name,
                            ty,
                        });
                    }
                    ComponentItem::Resource(ty) => {
                        resources.push((ty, interface.to_string(), export.to_string()))
                    }
                    _ => {}
                }
            }
        }
        Catalog { exports, resources }
    }

    /// Every export.
    pub fn exports(&self) -> &[Export] {
        &self.exports
    }

    /// (interface, name) of a resource type seen in this catalog's types.
    pub fn resource_name(&self, ty: &ResourceType) -> Option<(String, String)> {
        self.resources.iter().find(|(t, _, _)| t == ty).map(|(_, i, n)| (i.clone(), n.clone()))
    }

    /// The resource a function's result holds (directly or as `ok`/`some`), if any.
    pub fn result_resource(&self, export: &Export) -> Option<(String, String)> {
        let mut ty = export.ty.results().next()?;
        loop {
            ty = match ty {
                Type::Own(resource) | Type::Borrow(resource) => return self.resource_name(&resource),
                Type::Result(r) => r.ok()?,
                Type::Option(o) => o.ty(),
                _ => return None,
            };
        }
    }

    /// A method of a resource.
    pub fn method(&self, interface: &str, resource: &str, name: &str) -> Result<&Export, Unresolved> {
        self.exports
            .iter()
            .find(|e| {
                e.kind == Kind::Method
                    && e.interface == interface
                    && e.resource.as_deref() == Some(resource)
                    && e.name == name
            })
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .exports
                    .iter()
                    .filter(|e| e.kind == Kind::Method && e.resource.as_deref() == Some(resource))
                    .map(|e| e.name.as_str())
                    .collect();
                Unresolved(format!("{resource} has no method {name:?}{}", suggest(name, &names)))
            })
    }

    /// A function named by `interface` (optional) and a dotted path of one to three parts:
    /// `name`, `interface.name`, `resource.name`, `interface.resource.name`.
    pub fn function(&self, interface: Option<&str>, path: &[String]) -> Result<&Export, Unresolved> {
        let in_interface = |e: &Export, i: &str| {
            e.interface == i || short_interface(&e.interface) == i || strip_version(&e.interface) == i
        };
        let candidates: Vec<&Export> = self
            .exports
            .iter()
            .filter(|e| e.kind != Kind::Method)
            .filter(|e| interface.is_none_or(|i| in_interface(e, i)))
            .filter(|e| match path {
                [name] => &e.name == name,
                [scope, name] => {
                    (&e.name == name && (in_interface(e, scope) || e.resource.as_deref() == Some(scope)))
                        || (e.kind == Kind::Constructor && &e.name == name && in_interface(e, scope))
                }
                [scope, resource, name] => {
                    in_interface(e, scope) && e.resource.as_deref() == Some(resource) && &e.name == name
                }
                _ => false,
            })
            .collect();
        match candidates.as_slice() {
            [one] => Ok(one),
            [] => {
                let wanted = path.last().map(String::as_str).unwrap_or_default();
                let names: Vec<String> =
                    self.exports.iter().filter(|e| e.kind != Kind::Method).map(Export::qualified).collect();
                let plain: Vec<&str> = names.iter().map(String::as_str).collect();
                Err(Unresolved(format!(
                    "no exported function {:?}{}",
                    path.join("."),
                    suggest(wanted, &plain)
                )))
            }
            many => {
                let names: Vec<String> = many.iter().map(|e| e.qualified()).collect();
                Err(Unresolved(format!(
                    "{:?} is ambiguous; write one of: {}",
                    path.join("."),
                    names.join(", ")
                )))
            }
        }
    }
}

fn strip_version(interface: &str) -> &str {
    interface.split('@').next().unwrap_or(interface)
}

/// `[method]r.m` -> (Method, r, m); `[static]r.s`; `[constructor]r`; plain names.
fn classify(export: &str) -> (Kind, Option<String>, String) {
    let split = |rest: &str| {
        let (resource, name) = rest.split_once('.').unwrap_or((rest, ""));
        (Some(resource.to_string()), name.to_string())
    };
    if let Some(rest) = export.strip_prefix("[method]") {
        let (resource, name) = split(rest);
        (Kind::Method, resource, name)
    } else if let Some(rest) = export.strip_prefix("[static]") {
        let (resource, name) = split(rest);
        (Kind::Static, resource, name)
    } else if let Some(resource) = export.strip_prefix("[constructor]") {
        (Kind::Constructor, Some(resource.to_string()), resource.to_string())
    } else {
        (Kind::Free, None, export.to_string())
    }
}

/// `; did you mean …?` with the names closest to `wanted`.
pub fn suggest(wanted: &str, names: &[&str]) -> String {
    let last = |n: &str| n.rsplit('.').next().unwrap_or(n).to_string();
    let mut close: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| {
            let tail = last(n);
            distance(wanted, &tail) <= 2 + wanted.len() / 6
                || tail.contains(wanted)
                || (wanted.len() > 3 && wanted.contains(&tail))
        })
        .collect();
    close.sort();
    close.dedup();
    close.truncate(5);
    if close.is_empty() { String::new() } else { format!("; did you mean {}?", close.join(", ")) }
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb)).min(row[j] + 1).min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_export_names() {
        assert_eq!(
            classify("[method]client.get-vm-info"),
            (Kind::Method, Some("client".into()), "get-vm-info".into())
        );
        assert_eq!(classify("[static]client.open"), (Kind::Static, Some("client".into()), "open".into()));
        assert_eq!(
            classify("[constructor]vm-config-builder"),
            (Kind::Constructor, Some("vm-config-builder".into()), "vm-config-builder".into())
        );
        assert_eq!(classify("template-config"), (Kind::Free, None, "template-config".into()));
    }

    fn catalog(wat: &str) -> Catalog {
        let engine = Engine::default();
        let component = Component::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
        Catalog::new(&engine, &component)
    }

    const TWO_PINGS: &str = r#"(component
        (core module $m (func (export "f")))
        (core instance $i (instantiate $m))
        (func $f (canon lift (core func $i "f")))
        (instance $a (export "ping" (func $f)))
        (instance $b (export "ping" (func $f)))
        (export "x:y/first@1.0.0" (instance $a))
        (export "x:y/second@1.0.0" (instance $b)))"#;

    #[test]
    fn ambiguous_bare_names_list_their_candidates() {
        let catalog = catalog(TWO_PINGS);
        let error = catalog.function(None, &["ping".into()]).unwrap_err();
        assert_eq!(error.0, "\"ping\" is ambiguous; write one of: first.ping, second.ping");
        assert_eq!(
            catalog.function(None, &["first".into(), "ping".into()]).unwrap().interface,
            "x:y/first@1.0.0"
        );
        assert_eq!(
            catalog.function(Some("x:y/second"), &["ping".into()]).unwrap().interface,
            "x:y/second@1.0.0"
        );
    }

    #[test]
    fn suggests_near_names() {
        assert_eq!(
            suggest("templat-config", &["templates.template-config", "templates.template-name"]),
            "; did you mean templates.template-config?"
        );
        assert_eq!(suggest("zzz", &["a.b"]), "");
    }
}
