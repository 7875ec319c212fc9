//! Embedding the metald client component in a Rust program.
//!
//! Starts the development server in-process, then drives a VM through its lifecycle with
//! [`metald_host::Client`]; the config comes from the component's templates.
//!
//! ```sh
//! cargo run -p metald-e2e --example embed
//! ```

use metald_host::bindings::templates::Template;
use metald_host::bindings::types::{ClientOptions, DeleteVmRequest};
use metald_host::{Runtime, RuntimeConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = metald_devserver::DevServer::start(Default::default()).await?;
    let runtime = Runtime::new(RuntimeConfig::new(metald_host::plain_transport(&server.url())?))?;

    // Pure SDK calls run in an instance of their own.
    let config = runtime.instantiate().await?.template_config(Template::Minimal).await?;

    let mut client = runtime
        .client(ClientOptions {
            server: server.url(),
            user_id: "alice".into(),
            tenant_id: "acme".into(),
            timeout_ms: Some(5_000),
            route_prefix: None,
            codec: None,
            retries: None,
            max_response_bytes: None,
            compression: None,
        })
        .await?;
    let created = client.create_vm(&config).await?;
    println!("created {} ({:?})", created.vm_id, created.state);
    let booted = client.boot_vm(&created.vm_id).await?;
    println!("booted: {:?}", booted.state);
    let info = client.get_vm_info(&created.vm_id).await?;
    println!("ip: {}", info.network_info.map(|n| n.ip_address).unwrap_or_default());
    println!("VMs: {}", client.list_all_vms(&[]).await?.len());
    client.delete_vm(&DeleteVmRequest { vm_id: created.vm_id.clone(), force: false }).await?;
    match client.get_vm_info(&created.vm_id).await {
        Err(error) => println!("after delete: {error}"),
        Ok(_) => println!("after delete: still there?"),
    }
    Ok(())
}
