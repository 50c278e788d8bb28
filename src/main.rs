//! The `ibgu-webhook` command: a thin shell over the library's decision code.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use ibgu_webhook::admission::{self, Endpoint};
use ibgu_webhook::cli::certs;
use ibgu_webhook::cli::check::{self, Input};
use ibgu_webhook::cli::git_manifest::Manifest;
use ibgu_webhook::cli::next;
use ibgu_webhook::cli::schema::Schema;
use ibgu_webhook::policy::facts::Facts;
use ibgu_webhook::policy::{Config, DEFAULT_MAX_CONCURRENCY, Old};
use ibgu_webhook::server::logs::EscapedFields;
use ibgu_webhook::server::routes::DEFAULT_BODY_BUDGET;
use ibgu_webhook::server::tls::{CertFiles, CertStore, LoadedCert};
use ibgu_webhook::server::{Options, Server};
use tracing_appender::non_blocking::{ErrorCounter, WorkerGuard};

/// What every command's help says of the environment variables beside its options.
const ENV_HELP: &str = "Each option shown with [env: NAME] can also be set by that environment \
variable; the flag wins over the variable. An empty value means the option is not set: its \
default applies.";

/// Admission webhook for OpenShift TALM ImageBasedGroupUpgrade plans.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the webhook over HTTPS: POST /validate, POST /mutate, GET /healthz, GET /readyz.
    #[command(after_help = ENV_HELP)]
    Serve(ServeArgs),
    /// Write a CA and a serving certificate (ca.crt, tls.crt, tls.key) for static installs.
    Certs(CertsArgs),
    /// Answer one AdmissionReview request (FILE, or stdin) with the webhook's response JSON.
    #[command(after_help = ENV_HELP)]
    Review(ReviewArgs),
    /// Lint ImageBasedGroupUpgrade manifests (YAML or JSON) as the apiserver would admit them.
    #[command(after_help = ENV_HELP)]
    Check(CheckArgs),
    /// Say whether a step may be appended to a live ImageBasedGroupUpgrade now, which, and
    /// the kubectl patch that appends each.
    #[command(after_help = next_help())]
    Next(NextArgs),
}

/// `next`'s exit codes.
const NEXT_EXIT_CODES: &str = "Exit codes: 0 a step may be appended now (a command is printed \
for each continuation the webhook would admit); 3 not now: a step runs, or TALM has not taken \
the last change yet (run again later); 4 nothing may be appended: the plan is complete, or the \
webhook would deny every continuation (or the one --actions names) for a reason waiting does \
not cure; 5 the --manifest's plan is not the live one (git is ahead of or behind the hub); 2 \
the input could not be read or the usage is wrong (--write with several continuations and no \
--actions). Nothing is written unless the exit code is 0.";

fn next_help() -> String {
    format!("{NEXT_EXIT_CODES}\n\n{ENV_HELP}")
}

/// The policy options, the same on every command that decides.
#[derive(Args)]
struct PolicyArgs {
    /// maxConcurrency for a step that has none and no step before it.
    #[arg(long, env = "IBGU_DEFAULT_MAX_CONCURRENCY", default_value_t = DEFAULT_MAX_CONCURRENCY,
          value_parser = clap::value_parser!(i64).range(1..))]
    default_max_concurrency: i64,
    /// Seed pull secret injected as spec.ibuSpec.seedImageRef.pullSecretRef on CREATE.
    #[arg(long, env = "IBGU_SEED_PULL_SECRET", value_parser = secret_name)]
    seed_pull_secret: Option<String>,
    /// Deny, rather than warn, when a named pull secret is missing (needs hub access). The
    /// variable takes true/false, yes/no, on/off or 1/0.
    #[arg(long, env = "IBGU_REQUIRE_PULL_SECRET",
          value_parser = clap::builder::BoolishValueParser::new())]
    require_pull_secret: bool,
    /// Let /mutate only add what is missing and leave every refusal to /validate. By
    /// default /mutate also refuses what validating the mutated object would: the CRD's
    /// own rules run between the two webhooks and would otherwise answer first, with a
    /// bare message. Takes true/false like the option above.
    #[arg(long, env = "IBGU_MUTATE_WITHOUT_VALIDATION",
          value_parser = clap::builder::BoolishValueParser::new())]
    mutate_without_validation: bool,
}

/// A Secret's name: a DNS-1123 subdomain, or validating rule 10 would refuse every
/// object the injection touched.
fn secret_name(s: &str) -> Result<String, String> {
    let s = non_empty(s)?;
    match ibgu_webhook::model::name::dns1123_subdomain(&s).first() {
        Some(problem) => Err(format!("not a Secret name: {problem}")),
        None => Ok(s),
    }
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_owned())
    }
}

impl PolicyArgs {
    fn config(&self) -> Config {
        Config {
            default_max_concurrency: self.default_max_concurrency,
            seed_pull_secret: self.seed_pull_secret.clone(),
            require_pull_secret: self.require_pull_secret,
            validate_on_mutate: !self.mutate_without_validation,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (HTTPS).
    #[arg(long, env = "IBGU_ADDR", default_value = "0.0.0.0:8443")]
    addr: SocketAddr,
    /// Address for GET /metrics (plain HTTP, Prometheus/OpenMetrics text).
    #[arg(long, env = "IBGU_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// PEM certificate chain; with --tls-key. Without both, a development certificate is made.
    #[arg(long, env = "IBGU_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key; with --tls-cert.
    #[arg(long, env = "IBGU_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM CA bundle: require client certificates signed by it (for an apiserver that presents one).
    #[arg(long, env = "IBGU_CLIENT_CA")]
    client_ca: Option<PathBuf>,
    /// Kubeconfig for hub lookups; without it, the in-cluster configuration when running
    /// in a pod, else no hub access (pull secret checks are skipped).
    #[arg(long, env = "IBGU_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "IBGU_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Seconds responses carry `Connection: close` after SIGTERM before the listener closes.
    #[arg(long, env = "IBGU_DRAIN_SECONDS", default_value_t = 5.0)]
    drain_seconds: f64,
    /// Seconds between re-reads of the certificate files.
    #[arg(long, env = "IBGU_RELOAD_INTERVAL_SECONDS", default_value_t = 5.0)]
    reload_interval_seconds: f64,
    /// Threads that serve requests; 0 for one per CPU the process may use (its cgroup
    /// quota included), at most 4: decisions take microseconds, so more threads only add
    /// memory and context switches in a 1 to 2 CPU pod.
    #[arg(long, env = "IBGU_WORKER_THREADS", default_value_t = 0)]
    worker_threads: usize,
    /// Open connections at once; more wait in the listen backlog.
    #[arg(long, env = "IBGU_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Open connections from one source IP; more are closed at once. Half the total by
    /// default: one noisy or hostile source can never take the apiserver's connections.
    #[arg(long, env = "IBGU_MAX_CONNECTIONS_PER_IP", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_ip: u32,
    /// MiB of request bodies buffered at once across all requests (at least 7, the
    /// largest body); requests that cannot reserve theirs within a second get a 503.
    /// The default keeps peak memory under overload 20% inside the Deployment's 128Mi.
    #[arg(long, env = "IBGU_MAX_BUFFERED_BODY_MIB", default_value_t = (DEFAULT_BODY_BUDGET >> 20) as u32,
          value_parser = clap::value_parser!(u32).range(7..=4096))]
    max_buffered_body_mib: u32,
    /// Where the development CA bundle is written when no certificate is given; in a pod,
    /// where a development certificate is refused unless this is set.
    #[arg(long, env = "IBGU_DEV_CA_OUT")]
    dev_ca_out: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs,
}

#[derive(Args)]
struct CertsArgs {
    /// Directory to write ca.crt, tls.crt and tls.key into.
    #[arg(long)]
    out: PathBuf,
    /// DNS names for the serving certificate, e.g. ibgu-webhook.ibgu-system.svc.
    #[arg(long = "dns", value_name = "NAME")]
    dns: Vec<String>,
    /// IP addresses for the serving certificate.
    #[arg(long = "ip", value_name = "IP")]
    ip: Vec<IpAddr>,
    /// Days the certificates are valid.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(i64).range(1..=3650))]
    days: i64,
}

#[derive(Args)]
struct ReviewArgs {
    /// Which endpoint to answer as: validate or mutate.
    #[arg(long, value_parser = |s: &str| s.parse::<Endpoint>())]
    mode: Endpoint,
    /// The AdmissionReview request; stdin when absent or `-`.
    file: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// `check`'s report formats: those of [`Output`], and SARIF for code-scanning UIs.
#[derive(Clone, Copy, ValueEnum)]
enum CheckOutput {
    Text,
    Json,
    /// SARIF 2.1.0, which code-scanning UIs annotate pull requests with.
    Sarif,
}

/// How `check` reads its `--old` objects.
#[derive(Clone, Copy, ValueEnum)]
enum OldAs {
    /// Each as what it is: a manifest, or an object as stored.
    Auto,
    /// As manifests from git.
    Manifest,
    /// As stored, TALM's status included.
    Stored,
}

#[derive(Args)]
struct CheckArgs {
    /// Manifest files (multi-document YAML or JSON); `-` for stdin.
    #[arg(required = true)]
    files: Vec<String>,
    /// Old objects: matching objects are checked as UPDATEs of them. Each is read as
    /// stored (`kubectl get ibgu -o yaml`: every rule) or as a manifest from git (the
    /// checks of TALM's live status are left to the hub); see --old-as.
    #[arg(long)]
    old: Vec<String>,
    /// How to read each --old object: auto (a manifest when it has no
    /// metadata.resourceVersion, uid or generation and no status, as git holds it; else
    /// stored), manifest, or stored.
    #[arg(long, value_enum, value_name = "READING", default_value_t = OldAs::Auto)]
    old_as: OldAs,
    /// The namespace of manifests that name none.
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    /// The ImageBasedGroupUpgrade CRD to check against, as installed on the hub (`kubectl
    /// get crd imagebasedgroupupgrades.lcm.openshift.io -o yaml`); TALM's vendored CRD
    /// by default.
    #[arg(long, value_name = "FILE")]
    crd: Option<String>,
    /// Report format.
    #[arg(long, short = 'o', value_enum, default_value_t = CheckOutput::Text)]
    output: CheckOutput,
    #[command(flatten)]
    policy: PolicyArgs,
}

#[derive(Args)]
struct NextArgs {
    /// The live object, as `kubectl get ibgu NAME -o yaml` (or `-o json`) prints it; `-`
    /// for stdin.
    file: String,
    /// The manifest in git holding the same object (GitOps): also propose the step for it,
    /// as YAML in the file's own style.
    #[arg(long, value_name = "FILE")]
    manifest: Option<String>,
    /// Write the proposed step into the --manifest file, changing no other byte.
    #[arg(long, requires = "manifest")]
    write: bool,
    /// The step for the --manifest when several would be admitted, e.g. `--actions
    /// AbortOnFailure` or `--actions Upgrade,FinalizeUpgrade`.
    #[arg(
        long,
        requires = "manifest",
        value_delimiter = ',',
        value_name = "ACTION,..."
    )]
    actions: Option<Vec<String>>,
    /// Report format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(flatten)]
    policy: PolicyArgs,
}

fn read_input(file: Option<&str>) -> anyhow::Result<Vec<u8>> {
    match file {
        None | Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading stdin")?;
            Ok(buf)
        }
        Some(path) => std::fs::read(path).with_context(|| format!("reading {path}")),
    }
}

fn load(file: &str) -> anyhow::Result<Input> {
    let bytes = read_input(Some(file))?;
    let text = String::from_utf8(bytes).with_context(|| format!("{file}: not UTF-8 text"))?;
    Ok(Input::parse(file, &text)?)
}

fn review(args: &ReviewArgs) -> anyhow::Result<ExitCode> {
    let body = read_input(args.file.as_deref())?;
    let response =
        admission::review_body(&body, args.mode, &args.policy.config(), &Facts::Offline)?;
    response.check_wire(args.mode)?;
    let mut out = response.to_review_json();
    out.push(b'\n');
    std::io::Write::write_all(&mut std::io::stdout(), &out)?;
    Ok(ExitCode::SUCCESS)
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    if args
        .files
        .iter()
        .chain(&args.old)
        .chain(&args.crd)
        .filter(|f| *f == "-")
        .count()
        > 1
    {
        bail!("stdin (-) can be read only once");
    }
    let inputs = args
        .files
        .iter()
        .map(|f| load(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let old = args
        .old
        .iter()
        .map(|f| load(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let schema = match &args.crd {
        None => Schema::vendored(ibgu_webhook::model::VERSION)?,
        Some(file) => {
            let text = String::from_utf8(read_input(Some(file))?)
                .with_context(|| format!("{file}: not UTF-8 text"))?;
            Schema::from_crd(&text, ibgu_webhook::model::VERSION).with_context(|| file.clone())?
        }
    };
    let report = check::run(
        &args.policy.config(),
        &schema,
        &inputs,
        &old,
        match args.old_as {
            OldAs::Auto => None,
            OldAs::Manifest => Some(Old::Manifest),
            OldAs::Stored => Some(Old::Stored),
        },
        &args.namespace,
    );
    match args.output {
        CheckOutput::Text => print!("{}", report.to_text()),
        CheckOutput::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        CheckOutput::Sarif => println!("{}", serde_json::to_string_pretty(&report.to_sarif()?)?),
    }
    Ok(if report.denied() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn next(args: &NextArgs) -> anyhow::Result<ExitCode> {
    let input = load(&args.file)?;
    let config = args.policy.config();
    let mut report = next::Report::of_input(&config, &input)?;
    let print = |report: &next::Report| -> anyhow::Result<()> {
        match args.output {
            Output::Text => print!("{}", report.to_text()),
            Output::Json => println!("{}", serde_json::to_string_pretty(report)?),
        }
        Ok(())
    };
    if let Some(file) = &args.manifest {
        if file == "-" {
            bail!("--manifest names the manifest's file in the git repository, not stdin (-)");
        }
        let text = String::from_utf8(read_input(Some(file))?)
            .with_context(|| format!("{file}: not UTF-8 text"))?;
        let manifest = Input::parse(file, &text)?;
        let live = next::the_one(&input)?;
        let m = Manifest {
            file,
            text: &text,
            input: &manifest,
        };
        report.with_manifest(&config, live, &m, args.actions.as_deref())?;
        if args.write
            && let Some(written) = report.manifest.as_mut()
        {
            match (written.outcome, &written.edit) {
                (next::Outcome::Proposed, Some(edit)) => {
                    // The file as read, or a change made meanwhile would be lost.
                    if std::fs::read(file).with_context(|| format!("reading {file}"))?
                        != text.as_bytes()
                    {
                        bail!("{file}: changed while next ran; nothing written, run it again");
                    }
                    std::fs::write(file, edit.apply(&text))
                        .with_context(|| format!("writing {file}"))?;
                    written.written = true;
                }
                (next::Outcome::Choose, _) => {
                    let why = written.why.clone().unwrap_or_default();
                    print(&report)?;
                    bail!("{file}: {why}; nothing written");
                }
                _ => {}
            }
        }
    }
    print(&report)?;
    Ok(ExitCode::from(report.exit_code()))
}

fn seconds(s: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| anyhow::anyhow!("--{flag} must be a non-negative number of seconds"))
}

/// Logs go to stderr through a writer thread: formatting stays on the request path, the
/// write does not, and lines written while the thread is busy leave in one `write`. If
/// the thread falls [`LOG_LINES_QUEUED`] lines behind, new lines are dropped rather than
/// blocking requests, and counted (`/metrics`, and a line once the writer catches up).
/// Text lines have every field escaped ([`EscapedFields`]). Colours only on a terminal.
/// The guard flushes what is left when dropped.
///
/// Lines queued for the log thread at most. The queue is allocated whole at start-up, 32
/// bytes a line: the library's default of 128K lines held 4 MiB, most of the idle
/// process's memory. One line per admission, so 8K lines ride out a stalled stderr for
/// seconds at a busy hub's rate, and for half a second under a load benchmark.
const LOG_LINES_QUEUED: usize = 8 * 1024;

fn init_logging(format: LogFormat) -> anyhow::Result<(WorkerGuard, ErrorCounter)> {
    use std::io::IsTerminal;
    // A filter that does not parse is an error, not a silent fall-back to another level.
    let filter = match env_set("RUST_LOG") {
        None => tracing_subscriber::EnvFilter::new("info"),
        Some(v) => tracing_subscriber::EnvFilter::try_new(&v)
            .with_context(|| format!("RUST_LOG={v:?} is not a log filter"))?,
    };
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_LINES_QUEUED)
        .thread_name("ibgu-webhook-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let dropped = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.fmt_fields(EscapedFields).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok((guard, dropped))
}

/// The serving certificate: from files, or a development one made now.
fn serving_cert(args: &ServeArgs) -> anyhow::Result<(LoadedCert, Option<CertFiles>)> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let files = CertFiles {
            cert: cert.clone(),
            key: key.clone(),
        };
        let loaded = files.load().context("loading the serving certificate")?;
        return Ok((loaded, Some(files)));
    }
    if in_pod() && args.dev_ca_out.is_none() {
        // The apiserver could never trust a CA made at start-up: a pod that served one
        // would be ready while every IBGU write failed its TLS check.
        bail!(
            "no serving certificate: in a pod, --tls-cert and --tls-key (IBGU_TLS_CERT, \
             IBGU_TLS_KEY) must name the mounted pair (to serve a development certificate \
             in a pod anyway, say where its CA goes with --dev-ca-out)"
        );
    }
    let (dns, ips) = certs::development_names();
    let bundle = certs::generate(&dns, &ips, 30)?;
    let ca_path = args.dev_ca_out.clone().unwrap_or_else(|| {
        let mut dir = std::env::temp_dir();
        if dir.as_os_str().is_empty() {
            dir = PathBuf::from("/tmp"); // TMPDIR set but empty
        }
        dir.join("ibgu-webhook-dev-ca.crt")
    });
    std::fs::write(&ca_path, &bundle.ca_pem)
        .with_context(|| format!("writing {}", ca_path.display()))?;
    tracing::warn!(
        ca_bundle = %ca_path.display(),
        names = ?dns,
        "DEVELOPMENT CERTIFICATE: no --tls-cert/--tls-key given, serving a self-signed certificate made \
         at start-up; never use this in a cluster. Clients can trust the CA bundle written here"
    );
    let loaded = LoadedCert::from_pem(bundle.cert_pem.as_bytes(), bundle.key_pem.as_bytes())?;
    Ok((loaded, None))
}

fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let (_log, dropped_log_lines) = init_logging(args.log_format)?;
    let (cert, files) = serving_cert(args)?;
    let client_ca = match &args.client_ca {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
        None => None,
    };
    let mut options = Options::new(args.addr);
    options.metrics_addr = Some(args.metrics_addr);
    options.dropped_log_lines = Some(dropped_log_lines);
    options.policy = args.policy.config();
    options.client_ca = client_ca;
    options.cert_files = files;
    options.drain = seconds(args.drain_seconds, "drain-seconds")?;
    options.reload_interval = seconds(args.reload_interval_seconds, "reload-interval-seconds")?
        .max(Duration::from_millis(100));
    options.max_connections = args.max_connections as usize;
    options.max_connections_per_ip = args.max_connections_per_ip as usize;
    options.body_budget = args.max_buffered_body_mib as usize * 1024 * 1024;
    let runtime = runtime(args.worker_threads)?;
    let kubeconfig = args.kubeconfig.clone();
    let strict = args.policy.require_pull_secret;
    runtime.block_on(async move {
        options.hub = hub_client(kubeconfig).await?;
        if options.hub.is_none() && strict {
            tracing::warn!("--require-pull-secret has no effect without hub access");
        }
        let server = Server::bind(options, Arc::new(CertStore::new(cert))).await?;
        let addr = server.local_addr()?;
        let metrics = server.metrics_addr().map(|a| a.to_string()).unwrap_or_default();
        tracing::info!(%addr, %metrics, "serving HTTPS: POST /validate, POST /mutate, GET /healthz, GET /readyz; GET /metrics over HTTP");
        server.run(shutdown_signal()).await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// The async runtime, sized for a small pod: `workers` threads (0: one per usable CPU, at
/// most 4) and a small blocking pool, which only certificate reloads and the hub
/// client's name lookups use.
fn runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let workers = match workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        n => n,
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(4)
        .thread_name("ibgu-webhook")
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// The hub client: from `--kubeconfig`, else in-cluster when in a pod, else none.
async fn hub_client(kubeconfig: Option<PathBuf>) -> anyhow::Result<Option<kube::Client>> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(&path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        None if in_pod() => kube::Config::incluster().context("in-cluster configuration")?,
        None => {
            tracing::info!(
                "no hub access (no --kubeconfig, not in a pod): pull secret checks are skipped"
            );
            return Ok(None);
        }
    };
    tracing::info!(server = %config.cluster_url, "hub lookups enabled");
    Ok(Some(
        kube::Client::try_from(config).context("building the hub client")?,
    ))
}

/// SIGTERM (kubelet) or SIGINT (a terminal).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = int.recv() => tracing::info!("SIGINT received"),
                }
            }
            _ => {
                tracing::error!("cannot listen for signals; serving until killed");
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn write_certs(args: &CertsArgs) -> anyhow::Result<ExitCode> {
    let bundle = certs::generate(&args.dns, &args.ip, args.days)?;
    bundle.write(&args.out)?;
    println!(
        "wrote {0}/ca.crt, {0}/tls.crt and {0}/tls.key (valid {1} days)",
        args.out.display(),
        args.days
    );
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let result = match &cli.command {
        Command::Serve(args) => serve(args),
        Command::Certs(args) => write_certs(args),
        Command::Review(args) => review(args),
        Command::Check(args) => check(args),
        Command::Next(args) => next(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ibgu-webhook: error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The command line and the environment, with empty variables taken as not set. A usage
/// error is one line (a pod's log shows it whole), naming the variable when the bad value
/// came from one; help and version print as clap writes them.
fn parse_cli() -> Result<Cli, ExitCode> {
    let command = ignore_empty_env(Cli::command());
    let parsed = command
        .clone()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches));
    parsed.map_err(|e| {
        use clap::error::ErrorKind;
        if matches!(
            e.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        ) {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
        eprintln!("ibgu-webhook: error: {}", usage_error(&e, &command));
        ExitCode::from(2)
    })
}

/// Drops the environment variable of every option whose variable is set but empty: a
/// placeholder left in a manifest (`value: ""`) or `NAME=` in a shell means "not set",
/// never an invalid value.
fn ignore_empty_env(command: clap::Command) -> clap::Command {
    let command = command.mut_args(|arg| {
        let empty = arg
            .get_env()
            .is_some_and(|name| std::env::var_os(name).is_some_and(|v| v.is_empty()));
        if empty { arg.env(None) } else { arg }
    });
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    names.into_iter().fold(command, |command, name| {
        command.mut_subcommand(name, ignore_empty_env)
    })
}

/// clap's message on one line, with the environment variable named when the value came
/// from it rather than from the command line.
fn usage_error(e: &clap::Error, command: &clap::Command) -> String {
    let rendered = e.to_string();
    let mut line = String::new();
    for part in rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more"))
    {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part.strip_prefix("error: ").unwrap_or(part));
    }
    let Some(clap::error::ContextValue::String(shown)) =
        e.get(clap::error::ContextKind::InvalidArg)
    else {
        return line;
    };
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let from_env = std::iter::once(command)
        .chain(command.get_subcommands())
        .flat_map(|c| c.get_arguments())
        .find_map(|arg| {
            let long = format!("--{}", arg.get_long()?);
            let named = shown == &long || shown.starts_with(&format!("{long} "));
            let on_command_line = argv
                .iter()
                .any(|a| a == &long || a.starts_with(&format!("{long}=")));
            (named && !on_command_line).then(|| arg.get_env())?
        });
    match from_env {
        Some(name) => line.replacen(
            &format!("'{shown}'"),
            &format!("'{shown}' (from {})", name.to_string_lossy()),
            1,
        ),
        None => line,
    }
}

/// An error and its causes on one line, each cause once: several of the library's errors
/// print their source in their own message too.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if out.ends_with(&cause) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&cause);
    }
    out.replace('\n', " ")
}

/// An environment variable that is set to something: empty means not set.
fn env_set(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Running in a pod: kubelet sets the apiserver's service address in every container.
fn in_pod() -> bool {
    env_set("KUBERNETES_SERVICE_HOST").is_some()
}
