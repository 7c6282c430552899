//! `twinctl serve local`: what is deployed to the local environment, in a browser, until Ctrl-C
//! or SIGTERM ([`crate::local_serve`] serves it). While it runs, `.twin/serve/<env>.json` names
//! its three URLs and the local CA, for `twinctl verify`.

use crate::cli::ServeArgs;
use crate::context::Context;
use crate::error::Result;
use crate::local_serve::{self, Addresses};
use crate::serve_state;

pub async fn run(ctx: &Context, args: &ServeArgs) -> Result<()> {
    let target = ctx.target(&args.env).await?;
    let addresses = Addresses { http: args.listen, https: args.https_listen, redirect: args.redirect_listen };
    let phase = ctx.printer.phase("serve");
    phase.message("starting the live version");
    let serving = local_serve::start(&ctx.config, &target, addresses).await?;
    phase.finish(format!(
        "{}:{} running at {} (log {})",
        serving.function,
        serving.version,
        serving.function_url,
        serving.function_log.display()
    ));
    let urls = serving.urls.clone();
    let version = serving.version.clone();
    let state_file = serve_state::state_file(&ctx.config, &args.env);
    serve_state::write(&state_file, &urls)?;
    ctx.printer.result(
        &serde_json::json!({
            "url": urls.http,
            "https_url": urls.https,
            "redirect_url": urls.redirect,
            "ca": urls.ca,
            "version": version,
        }),
        || {
            [
                format!("The twin ({} version {version}) is served at {} — Ctrl-C stops it.", args.env, urls.http),
                format!("  HTTPS, with HSTS:  {}", urls.https),
                format!("  plain HTTP as CloudFront answers it (site → HTTPS, /api/* refused): {}", urls.redirect),
                format!("  local CA (trust it to open the HTTPS URL without a warning): {}", urls.ca.display()),
            ]
            .join("\n")
        },
    );
    stop_requested().await;
    let stopped = serving.stop().await;
    if let Err(error) = std::fs::remove_file(&state_file)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        ctx.printer.warn(format!("could not remove {}: {error}", state_file.display()));
    }
    ctx.printer.note("stopped");
    stopped
}

/// Ctrl-C or SIGTERM: either way the local function is stopped before twinctl exits.
async fn stop_requested() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}
