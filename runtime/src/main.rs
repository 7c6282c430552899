//! The `twin-runtime` binary: read configuration, set up logging, build the state, then serve
//! the router on Lambda (when `AWS_LAMBDA_RUNTIME_API` is set) or on a local socket.
//!
//! Exit codes: 0 after a clean shutdown, 1 for invalid configuration, 2 for start-up failures.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use twin_runtime::{AppState, Config, app, telemetry};

/// The digital twin's chat API: serves on AWS Lambda, or locally for development.
///
/// Configuration comes from environment variables (see runtime/README.md).
#[derive(Debug, Parser)]
#[command(name = "twin-runtime", version, about)]
struct Args {
    /// Address of the local HTTP server (ignored on Lambda).
    #[arg(long, env = "TWIN_LISTEN", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("twin-runtime: {error}");
            return ExitCode::from(1);
        }
    };
    telemetry::init(config.log_json);

    let state = match AppState::from_config(&config).await {
        Ok(state) => state,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "start-up failed");
            return ExitCode::from(2);
        }
    };
    let router = app(state);

    let served = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        lambda_http::run(router).await.map_err(|e| anyhow::anyhow!(e))
    } else {
        serve_locally(args.listen, router).await
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "server stopped with an error");
            ExitCode::from(2)
        }
    }
}

async fn serve_locally(listen: SocketAddr, router: axum::Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("failed to listen on {listen}: {e}"))?;
    tracing::info!(
        url = %format!("http://{}", listener.local_addr()?),
        environment = %std::env::var("ENVIRONMENT").unwrap_or_else(|_| "local".into()),
        "twin-runtime listening"
    );
    axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("twin-runtime stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM: finish the requests in flight, then exit. With `TWIN_EXIT_WITH_STDIN=1`,
/// also when standard input closes: a parent that runs this process on a pipe (twinctl's local
/// function) may be killed without a chance to stop it, and the kernel closing its end of the
/// pipe is the one signal that still arrives.
async fn shutdown_signal() {
    let parent_gone = async {
        if std::env::var("TWIN_EXIT_WITH_STDIN").as_deref() != Ok("1") {
            return std::future::pending::<()>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buffer = [0_u8; 256];
        loop {
            match tokio::io::AsyncReadExt::read(&mut stdin, &mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
        () = parent_gone => tracing::info!("standard input closed: the parent is gone"),
    }
}
