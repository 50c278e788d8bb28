//! The `ibgu-webhook` command: a thin shell over the library's decision code.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ibgu_webhook::admission::{self, Mode};
use ibgu_webhook::check::{self, Input};
use ibgu_webhook::hub::Hub;
use ibgu_webhook::policy::{Config, DEFAULT_MAX_CONCURRENCY};

/// Admission webhook for OpenShift TALM ImageBasedGroupUpgrade plans.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Answer one AdmissionReview request (FILE, or stdin) with the webhook's response JSON.
    Review(ReviewArgs),
    /// Lint ImageBasedGroupUpgrade manifests (YAML or JSON) as the apiserver would admit them.
    Check(CheckArgs),
}

/// The policy options, the same on every command that decides.
#[derive(Args)]
struct PolicyArgs {
    /// maxConcurrency for a step that has none and no step before it.
    #[arg(long, env = "IBGU_DEFAULT_MAX_CONCURRENCY", default_value_t = DEFAULT_MAX_CONCURRENCY,
          value_parser = clap::value_parser!(i64).range(1..))]
    default_max_concurrency: i64,
    /// Seed pull secret injected as spec.ibuSpec.seedImageRef.pullSecretRef on CREATE.
    #[arg(long, env = "IBGU_SEED_PULL_SECRET", value_parser = non_empty)]
    seed_pull_secret: Option<String>,
    /// Deny, rather than warn, when a named pull secret is missing (needs hub access).
    #[arg(long, env = "IBGU_REQUIRE_PULL_SECRET")]
    require_pull_secret: bool,
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
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Validate,
    Mutate,
}

#[derive(Args)]
struct ReviewArgs {
    /// Which endpoint to answer as.
    #[arg(long, value_enum)]
    mode: ModeArg,
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

#[derive(Args)]
struct CheckArgs {
    /// Manifest files (multi-document YAML or JSON); `-` for stdin.
    #[arg(required = true)]
    files: Vec<String>,
    /// Stored objects (e.g. `kubectl get ibgu -o yaml`): matching objects are checked as UPDATEs.
    #[arg(long)]
    old: Vec<String>,
    /// The namespace of manifests that name none.
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
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
    let mode = match args.mode {
        ModeArg::Validate => Mode::Validate,
        ModeArg::Mutate => Mode::Mutate,
    };
    let response = admission::review(&body, mode, &args.policy.config(), &Hub::Offline)?;
    response.check_wire(mode)?;
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
    let report = check::run(&args.policy.config(), &inputs, &old, &args.namespace);
    match args.output {
        Output::Text => print!("{}", report.to_text()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(if report.denied() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Review(args) => review(args),
        Command::Check(args) => check(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ibgu-webhook: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
