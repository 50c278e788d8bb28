//! The README's pre-merge loop, as a GitOps repository's CI runs it: the loop's text is
//! taken from README.md and run by bash in a real git repository with an `origin`, on
//! each pull request of the documented flow ([Prep], then +[AbortOnFailure], +[Upgrade],
//! +[AbortOnFailure], +[FinalizeUpgrade]) and on bad ones. The README's example output
//! is the output of its command in the same repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "support/flow.rs"]
mod flow;
use flow::{FLOW, SEED, manifest};

/// README.md's text.
fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(path).expect("README.md")
}

/// The body of the README's first fenced block whose text contains `needle`.
fn block(readme: &str, needle: &str) -> String {
    let mut blocks = readme.split("```").skip(1).step_by(2);
    let found = blocks
        .find(|b| b.contains(needle))
        .unwrap_or_else(|| panic!("README.md has no block with {needle:?}"));
    // Drop the info string (`sh`) on the fence's line.
    found
        .split_once('\n')
        .map_or("", |(_, body)| body)
        .to_owned()
}

/// A command with none of the environment's git or `IBGU_*` settings (a hook's GIT_DIR
/// would point elsewhere), and the built `ibgu-webhook` first on PATH.
fn command(program: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("GIT_") || name.starts_with("IBGU_") {
            cmd.env_remove(&*name);
        }
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_ibgu-webhook"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.parent().expect("the binary's directory").to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(paths).expect("PATH"))
        .current_dir(dir);
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = command("git", dir).args(args).output().expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A GitOps repository cloned from a bare `origin` whose `main` has one commit.
struct Repo {
    root: PathBuf,
    work: PathBuf,
}

impl Repo {
    fn new(name: &str) -> Repo {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("premerge-{name}"));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("scratch directory");
        git(&root, &["init", "-q", "--bare", "-b", "main", "origin.git"]);
        git(&root, &["clone", "-q", "origin.git", "gitops"]);
        let work = root.join("gitops");
        for (k, v) in [
            ("user.name", "ztp"),
            ("user.email", "ztp@example.invalid"),
            ("commit.gpgsign", "false"),
        ] {
            git(&work, &["config", k, v]);
        }
        git(&work, &["checkout", "-q", "-b", "main"]);
        std::fs::write(
            work.join("settings.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: ztp-group}\n",
        )
        .expect("write");
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "start"]);
        git(&work, &["push", "-q", "origin", "main"]);
        Repo { root, work }
    }

    /// A pull request's branch off `origin/main`, with `files` written (`None` deletes)
    /// and committed.
    fn pull_request(&self, what: &str, files: &[(&str, Option<&str>)]) {
        git(&self.work, &["fetch", "-q", "origin"]);
        git(&self.work, &["checkout", "-q", "-B", "pr", "origin/main"]);
        for (file, text) in files {
            let path = self.work.join(file);
            match text {
                Some(text) => std::fs::write(&path, text).expect("write"),
                None => std::fs::remove_file(&path).expect("delete"),
            }
            git(&self.work, &["add", "-A", file]);
        }
        git(&self.work, &["commit", "-q", "-m", what]);
    }

    /// Runs `script` with bash in the working tree.
    fn bash(&self, script: &str) -> Output {
        command("bash", &self.work)
            .args(["-c", script])
            .output()
            .expect("run bash")
    }

    /// Merges the pull request: `main` becomes it.
    fn merge(&self) {
        git(&self.work, &["push", "-q", "origin", "pr:main"]);
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[test]
fn the_readmes_loop_passes_the_documented_flow_and_stops_bad_commits() {
    let readme = readme();
    let gate = block(&readme, "git merge-base origin/main HEAD");
    let repo = Repo::new("flow");
    let passes = |what: &str| {
        let out = repo.bash(&gate);
        let said = text(&out);
        assert!(out.status.success(), "{what}: the loop failed:\n{said}");
        said
    };
    let stopped = |what: &str, says: &str| {
        let out = repo.bash(&gate);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{what}: not stopped:\n{said}");
        assert!(said.contains(says), "{what}: missing {says:?} in:\n{said}");
        assert!(!said.contains("no status yet"), "{what}:\n{said}");
    };

    repo.pull_request(
        "[Prep]",
        &[("upgrade.yaml", Some(&manifest(SEED, &FLOW[..1])))],
    );
    let said = passes("[Prep]");
    assert!(said.contains("(CREATE): allowed"), "{said}");
    repo.merge();
    for k in 2..=FLOW.len() {
        let what = format!("+{}", FLOW[k - 1]);
        // The step appended, with maxConcurrency 0.
        let actions = &FLOW[k - 1][..=FLOW[k - 1].find(']').expect("actions")];
        let zero = format!("{actions}, rolloutStrategy: {{maxConcurrency: 0, timeout: 30}}}}");
        // A bad commit at each point: the seed image changed, a step removed,
        // maxConcurrency 0. None is merged.
        let bad: [(&str, String, &str); 3] = [
            (
                "the seed image changed",
                manifest("quay.io/seed/image:4.20.1", &FLOW[..k]),
                "spec.ibuSpec: Forbidden: field is immutable: seedImageRef.image changed",
            ),
            (
                "a step removed",
                manifest(SEED, &FLOW[..k.saturating_sub(2)]),
                "Forbidden: steps cannot be removed from an ongoing plan",
            ),
            (
                "maxConcurrency 0",
                manifest(SEED, &[&FLOW[..k - 1], &[zero.as_str()]].concat()),
                "rolloutStrategy.maxConcurrency: Invalid value: 0",
            ),
        ];
        for (bad_what, text, says) in &bad {
            if k == 2 && *bad_what == "a step removed" {
                continue; // the only step of [Prep]: an empty plan, another refusal
            }
            repo.pull_request(bad_what, &[("upgrade.yaml", Some(text))]);
            stopped(&format!("{what}, {bad_what}"), says);
        }
        repo.pull_request(
            &what,
            &[("upgrade.yaml", Some(&manifest(SEED, &FLOW[..k])))],
        );
        let said = passes(&what);
        assert!(said.contains("(UPDATE): allowed"), "{what}:\n{said}");
        assert_eq!(said.matches("left to the hub: ").count(), 1, "{said}");
        repo.merge();
    }
    let rollback = "{actions: [Rollback], rolloutStrategy: {maxConcurrency: 2, timeout: 30}}";
    let after = manifest(SEED, &[&FLOW[..], &[rollback]].concat());
    repo.pull_request("+[Rollback]", &[("upgrade.yaml", Some(&after))]);
    stopped(
        "Rollback after FinalizeUpgrade",
        "spec.plan[5].actions: Unsupported value: [\"Rollback\"]",
    );
    // The same plan committed again (a change elsewhere), and a YAML file deleted.
    repo.pull_request(
        "settings go",
        &[
            ("settings.yaml", None),
            (
                "notes.yaml",
                Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"),
            ),
        ],
    );
    passes("a YAML file deleted");
    repo.merge();
    // Main's plan is the whole flow.
    let main = git(&repo.work, &["show", "origin/main:upgrade.yaml"]);
    assert_eq!(main, manifest(SEED, &FLOW));
}

#[test]
fn the_readmes_example_is_what_check_prints() {
    let readme = readme();
    let example = block(
        &readme,
        "$ ibgu-webhook check upgrade.yaml --old <(git show",
    );
    let (command, want) = example
        .split_once('\n')
        .expect("a command, then its output");
    let command = command.strip_prefix("$ ").expect("a shell prompt");
    let repo = Repo::new("example");
    repo.pull_request(
        "[Prep]",
        &[("upgrade.yaml", Some(&manifest(SEED, &FLOW[..1])))],
    );
    repo.merge();
    repo.pull_request(
        "+[AbortOnFailure]",
        &[("upgrade.yaml", Some(&manifest(SEED, &FLOW[..2])))],
    );
    git(&repo.work, &["fetch", "-q", "origin"]);
    let out = repo.bash(command);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        want,
        "README.md's example"
    );
}
