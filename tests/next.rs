//! The `next` command, run as an operator or a script would run it, on live objects as
//! `kubectl get ibgu NAME -o yaml` prints them: text and JSON, stdin, exit codes, and the
//! printed `kubectl patch` run through a real shell, its patch applied to the object and
//! the result admitted by `check` as the UPDATE it is.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[path = "support/command.rs"]
mod command;
use command::{bin, run, text};

/// A scratch directory of its own for each test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ibgu-next-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The header every live object has, as `kubectl get -o yaml` prints it.
const HEAD: &str = "apiVersion: lcm.openshift.io/v1alpha1
kind: ImageBasedGroupUpgrade
metadata:
  creationTimestamp: \"2026-11-20T10:00:00Z\"
  finalizers:
  - lcm.openshift.io/ibgu
  generation: 2
  name: upgrade-4-20
  namespace: ztp-group
  resourceVersion: \"48213\"
  uid: 6b1f0a52-3c4d-4e8f-9a10-2b3c4d5e6f70
spec:
  clusterLabelSelectors:
  - matchLabels:
      upgrade: \"4.20\"
  ibuSpec:
    seedImageRef:
      image: quay.io/seed/image:4.20.0
      version: 4.20.0
";

/// Prep done: two clusters completed it, one failed it (a message over two lines), one
/// never ran.
fn prep_done() -> String {
    format!(
        "{HEAD}  plan:
  - actions:
    - Prep
    rolloutStrategy:
      maxConcurrency: 50
      timeout: 300
status:
  clusters:
  - completedActions:
    - action: Prep
    name: spoke1
  - completedActions:
    - action: Prep
    name: spoke4
  - failedActions:
    - action: Prep
      message: |-
        failed to pull the seed image
        manifest unknown
    name: spoke6
  - name: spoke7
  conditions:
  - lastTransitionTime: \"2026-11-20T11:00:00Z\"
    message: All plan steps are completed
    reason: Completed
    status: \"False\"
    type: Progressing
  observedGeneration: 2
"
    )
}

/// Upgrade running on two clusters.
fn upgrade_running() -> String {
    format!(
        "{HEAD}  plan:
  - actions: [Prep]
    rolloutStrategy: {{maxConcurrency: 50, timeout: 300}}
  - actions: [Upgrade]
    rolloutStrategy: {{maxConcurrency: 50, timeout: 240}}
status:
  clusters:
  - completedActions: [{{action: Prep}}]
    currentAction: {{action: Upgrade}}
    name: spoke1
  - completedActions: [{{action: Prep}}]
    currentAction: {{action: Upgrade}}
    name: spoke4
  conditions:
  - {{type: Progressing, status: \"True\", reason: InProgress, message: Plan step 1 is in progress}}
  observedGeneration: 2
"
    )
}

#[test]
fn ready_prints_each_admitted_continuation_with_its_command() {
    let dir = scratch("ready");
    let file = dir.join("live.yaml");
    std::fs::write(&file, prep_done()).expect("write");
    let out = run(bin().arg("next").arg(&file), None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for want in [
        "ImageBasedGroupUpgrade ztp-group/upgrade-4-20\n",
        "plan: [Prep] (generation 2; TALM has seen generation 2)\n",
        "may append now: 4 of 4 continuation(s) would be admitted\n",
        "  [Upgrade] (maxConcurrency 50, timeout 240): acts on 2 cluster(s): spoke1, spoke4\n",
        "    warning: spec.plan[1]: 1 cluster(s) failed an earlier step and will be skipped; recover them with AbortOnFailure first\n",
        "  [AbortOnFailure] (maxConcurrency 50, timeout 240): acts on 1 cluster(s): spoke6\n",
        r#"    kubectl patch ibgu upgrade-4-20 -n ztp-group --type=json -p '[{"op":"test","path":"/metadata/resourceVersion","value":"48213"},{"op":"add","path":"/spec/plan/-","value":{"actions":["AbortOnFailure"],"rolloutStrategy":{"maxConcurrency":50,"timeout":240}}}]'"#,
        "  [Abort] (maxConcurrency 50, timeout 240): acts on every selected cluster that did not complete Upgrade; 4 listed: spoke1, spoke4, spoke6, spoke7\n",
        "Each patch first tests resourceVersion 48213",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    assert_eq!(stdout.matches("kubectl patch").count(), 4, "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `command` in a POSIX shell with a stand-in `kubectl` that writes each argument
/// it got on a line of its own: the words the shell made of the printed command.
fn shell_words(dir: &Path, command: &str) -> Vec<String> {
    let fake = dir.join("kubectl");
    std::fs::write(
        &fake,
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done\n",
    )
    .expect("write the stand-in");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("PATH", path)
        .output()
        .expect("sh runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .split('\0')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_printed_command_appends_a_step_the_webhook_admits() {
    let dir = scratch("commands");
    let live = dir.join("live.yaml");
    std::fs::write(&live, prep_done()).expect("write");
    let out = run(bin().args(["next", "-o", "json"]).arg(&live), None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let proposals = report["proposals"].as_array().expect("proposals");
    assert_eq!(proposals.len(), 4);
    let stored: Value = serde_saphyr::from_str(&prep_done()).expect("the live object");
    let old = dir.join("old.json");
    std::fs::write(&old, serde_json::to_vec(&stored).expect("json")).expect("write");
    for p in proposals {
        let command = p["command"].as_str().expect("command");
        let words = shell_words(&dir, command);
        assert_eq!(
            words[..7],
            [
                "patch",
                "ibgu",
                "upgrade-4-20",
                "-n",
                "ztp-group",
                "--type=json",
                "-p"
            ],
            "{command}"
        );
        assert_eq!(words.len(), 8, "{words:?}");
        // The shell hands kubectl exactly the patch the report has.
        let patch: json_patch::Patch = serde_json::from_str(&words[7]).expect("a JSON Patch");
        let reported: json_patch::Patch =
            serde_json::from_value(p["patch"].clone()).expect("patch");
        assert_eq!(patch, reported);
        // Applied as the apiserver applies it, then admitted as that UPDATE.
        let mut new = stored.clone();
        json_patch::patch(&mut new, &patch).expect("the patch applies to the object read");
        assert_eq!(new["spec"]["plan"].as_array().map(Vec::len), Some(2));
        let new_file = dir.join("new.json");
        std::fs::write(&new_file, serde_json::to_vec(&new).expect("json")).expect("write");
        let check = run(
            bin().arg("check").arg(&new_file).arg("--old").arg(&old),
            None,
        );
        let said = text(&check.stdout);
        assert_eq!(check.status.code(), Some(0), "{command}\n{said}");
        assert!(said.contains("(UPDATE): allowed"), "{said}");
        // Once the object changed, the same patch fails its test and changes nothing.
        let mut changed = stored.clone();
        changed["metadata"]["resourceVersion"] = "48214".into();
        let before = changed.clone();
        assert!(json_patch::patch(&mut changed, &patch).is_err());
        assert_eq!(changed, before);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_running_step_means_wait_with_exit_3_read_from_stdin_as_json() {
    let out = run(
        bin().args(["next", "-", "--output", "json"]),
        Some(upgrade_running().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(v["state"], "wait");
    assert_eq!(
        v["why"],
        "steps can be added only once earlier steps have completed or failed: 2 cluster(s) still running an action: spoke1 (Upgrade), spoke4 (Upgrade)"
    );
    assert_eq!(v["runningStep"], 1);
    assert_eq!(v["running"][1]["cluster"], "spoke4");
    assert_eq!(v["proposals"], serde_json::json!([]));
    let listed: Vec<&str> = v["continuations"]
        .as_array()
        .expect("continuations")
        .iter()
        .map(|c| c["actions"][0].as_str().unwrap_or_default())
        .collect();
    assert_eq!(listed, ["FinalizeUpgrade", "AbortOnFailure"]);
    assert!(
        v["continuations"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["allowed"] == false))
    );
    // The same in text: the reason and the running clusters, and no command.
    let out = run(
        bin().args(["next", "-"]),
        Some(upgrade_running().as_bytes()),
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stdout.contains(
            "not now: steps can be added only once earlier steps have completed or failed"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "running: step 1 [Upgrade] on 2 cluster(s): spoke1 (Upgrade), spoke4 (Upgrade)\n"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("kubectl patch"), "{stdout}");
    // Rule 4's refusal is said once, not again under each continuation.
    assert_eq!(
        stdout.matches("steps can be added only once").count(),
        1,
        "{stdout}"
    );
    assert!(stdout.contains("  [FinalizeUpgrade] (maxConcurrency 50, timeout 240) (not now): acts on 0 cluster(s): none\n"), "{stdout}");
}

/// TALM's kuttl flow prep-abort-upgrade-abort-finalize once Upgrade ended: spoke1 failed
/// it, spoke4 completed it, spoke6 recovered from a failed Prep.
fn upgrade_done_after_recovery() -> String {
    format!(
        "{HEAD}  plan:
  - actions: [Prep]
    rolloutStrategy: {{maxConcurrency: 2, timeout: 2400}}
  - actions: [AbortOnFailure]
    rolloutStrategy: {{maxConcurrency: 5, timeout: 10}}
  - actions: [Upgrade]
    rolloutStrategy: {{maxConcurrency: 2, timeout: 30}}
status:
  clusters:
  - completedActions: [{{action: Prep}}]
    failedActions:
    - action: Upgrade
      message: |-
        Upgrade stage failed
        auto rollback on failure
    name: spoke1
  - completedActions: [{{action: Prep}}, {{action: Upgrade}}]
    name: spoke4
  - completedActions: [{{action: AbortOnFailure}}]
    failedActions: [{{action: Prep, message: seed image pull failed}}]
    name: spoke6
  conditions:
  - {{type: Progressing, status: \"False\", reason: Completed, message: All plan steps are completed}}
  observedGeneration: 2
"
    )
}

#[test]
fn a_cluster_a_later_step_reaches_is_named_with_that_step() {
    let live = upgrade_done_after_recovery();
    let out = run(bin().args(["next", "-"]), Some(live.as_bytes()));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for want in [
        "  [AbortOnFailure] (maxConcurrency 2, timeout 240): acts on 1 cluster(s): spoke1\n",
        "no continuation acts on 2 listed cluster(s):\n  spoke4: reached by FinalizeUpgrade after [AbortOnFailure]\n  spoke6: completed AbortOnFailure: TALM removed its labels, it is done\n",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("no continuation selects it"), "{stdout}");
    let out = run(
        bin().args(["next", "-", "--output", "json"]),
        Some(live.as_bytes()),
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(
        v["unreached"][0],
        serde_json::json!({"cluster": "spoke4", "why": "reached by FinalizeUpgrade after [AbortOnFailure]",
                           "reachedBy": {"after": [["AbortOnFailure"]], "step": ["FinalizeUpgrade"]}})
    );
    assert_eq!(v["unreached"][1].get("reachedBy"), None);
}

#[test]
fn a_stale_generation_means_wait() {
    let stale = prep_done().replace("observedGeneration: 2", "observedGeneration: 1");
    let out = run(bin().args(["next", "-"]), Some(stale.as_bytes()));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("it has seen generation 1, the stored object is at generation 2"),
        "{stdout}"
    );
}

#[test]
fn a_complete_plan_exits_4() {
    let done = format!(
        "{HEAD}  plan:
  - actions: [Prep, Upgrade, FinalizeUpgrade]
    rolloutStrategy: {{maxConcurrency: 10, timeout: 240}}
status:
  clusters:
  - completedActions: [{{action: Prep}}, {{action: Upgrade}}, {{action: FinalizeUpgrade}}]
    name: spoke1
  conditions:
  - {{type: Progressing, status: \"False\", reason: Completed}}
  observedGeneration: 2
"
    );
    let out = run(bin().args(["next", "-"]), Some(done.as_bytes()));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    assert!(
        stdout.contains(
            "nothing may be appended: the plan [[Prep, Upgrade, FinalizeUpgrade]] is complete"
        ),
        "{stdout}"
    );
}

/// `kubectl delete --cascade=foreground` of an idle IBGU: the apiserver keeps it with
/// `deletionTimestamp` and the `foregroundDeletion` finalizer, and bumps the generation,
/// which TALM has seen.
fn prep_done_deleting() -> String {
    prep_done()
        .replace(
            "  finalizers:\n  - lcm.openshift.io/ibgu\n  generation: 2\n",
            "  deletionGracePeriodSeconds: 0\n  deletionTimestamp: \"2026-11-21T09:30:00Z\"\n  finalizers:\n  - foregroundDeletion\n  generation: 3\n",
        )
        .replace("observedGeneration: 2", "observedGeneration: 3")
}

#[test]
fn a_deleting_object_takes_no_append_exit_4() {
    let live = prep_done_deleting();
    assert!(live.contains("deletionTimestamp"), "{live}");
    let out = run(bin().args(["next", "-"]), Some(live.as_bytes()));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "nothing may be appended: being deleted: nothing can be appended (metadata.deletionTimestamp is 2026-11-21T09:30:00Z); let the delete finish, then create a new ImageBasedGroupUpgrade\n"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("kubectl patch"), "{stdout}");
    let out = run(
        bin().args(["next", "-", "--output", "json"]),
        Some(live.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(4));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(v["state"], "blocked");
    assert_eq!(v["proposals"], serde_json::json!([]));
    assert_eq!(v["unreached"], serde_json::json!([]));
    // Each continuation is the webhook's own refusal (rule 14), not a guess.
    let continuations = v["continuations"].as_array().expect("continuations");
    assert!(!continuations.is_empty());
    for c in continuations {
        assert_eq!(c["allowed"], false, "{c}");
        assert!(
            c["errors"][0]
                .as_str()
                .is_some_and(|e| e.starts_with("spec: Forbidden: being deleted")),
            "{c}"
        );
    }
    // The same object not being deleted may take a step.
    let out = run(bin().args(["next", "-"]), Some(prep_done().as_bytes()));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_list_of_one_is_read_and_anything_else_is_exit_2() {
    // `kubectl get ibgu -o yaml` without a name prints a List.
    let items: String = prep_done().lines().map(|l| format!("  {l}\n")).collect();
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- {}",
        items.trim_start()
    );
    let out = run(bin().args(["next", "-"]), Some(list.as_bytes()));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // `-o json` prints JSON.
    let object: Value = serde_saphyr::from_str(&prep_done()).expect("the live object");
    let json = serde_json::to_vec_pretty(&object).expect("json");
    let out = run(bin().args(["next", "-"]), Some(&json));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let two = format!("{}---\n{}", prep_done(), upgrade_running());
    for (input, want) in [
        (
            two.as_str(),
            "-: holds 2 ImageBasedGroupUpgrades; give exactly one",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\n",
            "-: holds 0 ImageBasedGroupUpgrades",
        ),
        ("a: [1, 2\n", "-: invalid YAML"),
    ] {
        let out = run(bin().args(["next", "-"]), Some(input.as_bytes()));
        assert_eq!(out.status.code(), Some(2), "{input}");
        assert!(out.stdout.is_empty());
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with("ibgu-webhook: error: ") && stderr.contains(want),
            "{stderr}"
        );
    }
    let wrong = prep_done().replace("generation: 2\n", "generation: two\n");
    let out = run(bin().args(["next", "-"]), Some(wrong.as_bytes()));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("metadata.generation"),
        "{}",
        text(&out.stderr)
    );
    let out = run(bin().args(["next"]), None);
    assert_eq!(out.status.code(), Some(2), "usage error");
}

#[test]
fn help_says_the_exit_codes() {
    let out = run(bin().args(["next", "--help"]), None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for want in [
        "Exit codes: 0 a step may be appended now",
        "3 not now",
        "4 nothing may be appended",
        "--default-max-concurrency",
    ] {
        assert!(stdout.contains(want), "missing {want:?}:\n{stdout}");
    }
}

#[test]
fn the_configured_default_is_not_used_when_a_step_gives_one() {
    // maxConcurrency is inherited from the stored step, whatever the server's default.
    let out = run(
        bin().args(["next", "-", "-o", "json", "--default-max-concurrency", "3"]),
        Some(prep_done().as_bytes()),
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(
        v["continuations"][0]["rolloutStrategy"]["maxConcurrency"],
        50
    );
}

// `next --manifest`: the step for the manifest in git (GitOps ZTP), in the file's style.

/// What a GitOps repository holds for HEAD's object: HEAD without the metadata the
/// apiserver and TALM set.
fn git_head() -> String {
    const SET_ON_THE_HUB: [&str; 6] = [
        "  creationTimestamp:",
        "  finalizers:",
        "  - lcm.openshift.io/ibgu",
        "  generation:",
        "  resourceVersion:",
        "  uid:",
    ];
    HEAD.lines()
        .filter(|l| !SET_ON_THE_HUB.iter().any(|p| l.starts_with(p)))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A step as the manifests below write it, on two lines with a flow strategy.
fn step(actions: &str, timeout: u32) -> String {
    format!(
        "  - actions: [{actions}]\n    rolloutStrategy: {{maxConcurrency: 50, timeout: {timeout}}}\n"
    )
}

/// The manifest in git with these steps.
fn git_plan(steps: &[String]) -> String {
    format!("{}  plan:\n{}", git_head(), steps.concat())
}

/// Prep done, spoke6 failed it and recovered with AbortOnFailure: the one continuation
/// admitted is Upgrade (the flow's third commit).
fn recovered() -> String {
    format!(
        "{}  plan:
{}{}status:
  clusters:
  - completedActions: [{{action: Prep}}]
    name: spoke1
  - completedActions: [{{action: AbortOnFailure}}]
    failedActions: [{{action: Prep, message: seed image pull failed}}]
    name: spoke6
  conditions:
  - {{type: Progressing, status: \"False\", reason: Completed, message: All plan steps are completed}}
  observedGeneration: 3
",
        HEAD.replace("generation: 2", "generation: 3"),
        step("Prep", 300),
        step("AbortOnFailure", 240),
    )
}

/// A run of `next LIVE --manifest FILE ...` in a scratch directory, and the files after.
struct ManifestRun {
    dir: PathBuf,
    live: PathBuf,
    file: PathBuf,
    before: PathBuf,
    out: std::process::Output,
}

impl ManifestRun {
    fn new(name: &str, live: &str, manifest: &str, args: &[&str]) -> ManifestRun {
        let dir = scratch(name);
        let (live_file, file, before) = (
            dir.join("live.yaml"),
            dir.join("upgrade.yaml"),
            dir.join("before.yaml"),
        );
        std::fs::write(&live_file, live).expect("write");
        std::fs::write(&file, manifest).expect("write");
        std::fs::write(&before, manifest).expect("write");
        let out = run(
            bin()
                .arg("next")
                .arg(&live_file)
                .arg("--manifest")
                .arg(&file)
                .args(args),
            None,
        );
        ManifestRun {
            dir,
            live: live_file,
            file,
            before,
            out,
        }
    }

    fn stdout(&self) -> String {
        text(&self.out.stdout)
    }

    fn stderr(&self) -> String {
        text(&self.out.stderr)
    }

    fn manifest(&self) -> String {
        std::fs::read_to_string(&self.file).expect("read the manifest")
    }

    /// Asserts the step was written: exit 0, and the file is `want`; then that the gate
    /// and the hub admit it.
    fn wrote(&self, want: &str) {
        self.written(want);
        self.admitted();
    }

    /// Asserts the step was written: exit 0, and the file is `want`.
    fn written(&self, want: &str) {
        assert_eq!(
            self.out.status.code(),
            Some(0),
            "{}{}",
            self.stdout(),
            self.stderr()
        );
        assert!(self.stdout().contains("\nwrote "), "{}", self.stdout());
        assert_eq!(self.manifest(), want);
    }

    /// Asserts nothing was written.
    fn untouched(&self) {
        let before = std::fs::read(&self.before).expect("read");
        assert_eq!(std::fs::read(&self.file).expect("read"), before);
    }

    /// The written file through the gate and the hub: `check FILE --old <the file
    /// before>` (the README's pre-merge loop) and `check FILE --old LIVE` (the UPDATE the
    /// sync makes, judged on the stored object with TALM's status) both admit it. The
    /// manifest before is read as a manifest, so what needs TALM's status is left to the
    /// hub, and everything else admits the file.
    fn admitted(&self) {
        self.hub_admits();
        let (code, said) = self.check_old(&self.before);
        assert_eq!(code, Some(0), "the pre-merge check refused:\n{said}");
        assert!(said.contains("(UPDATE): allowed"), "{said}");
        assert!(said.contains("left to the hub"), "{said}");
    }

    /// `check FILE --old LIVE`: the UPDATE a sync of the written file makes is admitted.
    fn hub_admits(&self) {
        let (code, said) = self.check_old(&self.live);
        assert_eq!(code, Some(0), "{said}");
        assert!(said.contains("(UPDATE): allowed"), "{said}");
    }

    /// `check FILE --old OLD`: its exit code and report.
    fn check_old(&self, old: &Path) -> (Option<i32>, String) {
        let out = run(
            bin().arg("check").arg(&self.file).arg("--old").arg(old),
            None,
        );
        (out.status.code(), text(&out.stdout))
    }
}

impl Drop for ManifestRun {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn manifest_block_style_with_comments_kept() {
    let git = git_head();
    let manifest = format!(
        "# The fleet's upgrade to 4.20.
{git}  plan:
  # prepare every cluster first
  - actions:
    - Prep
    rolloutStrategy:
      maxConcurrency: 50  # half the fleet at once
      timeout: 300
  # next: recover the clusters that failed
"
    );
    let r = ManifestRun::new(
        "block",
        &prep_done(),
        &manifest,
        &["--write", "--actions", "AbortOnFailure"],
    );
    r.wrote(&manifest.replace(
        "      timeout: 300\n",
        "      timeout: 300
  - actions:
    - AbortOnFailure
    rolloutStrategy:
      maxConcurrency: 50
      timeout: 240
",
    ));
    let stdout = r.stdout();
    assert!(
        stdout.contains(&format!(
            "manifest {}, document 1: its plan is the hub's; [AbortOnFailure] goes in at {}:22:1:\n  - actions:\n    - AbortOnFailure\n",
            r.file.display(),
            r.file.display()
        )),
        "{stdout}"
    );
}

#[test]
fn manifest_flow_style_one_line_and_over_lines() {
    let git = git_head();
    // The only continuation admitted is chosen without --actions.
    let one_line = format!(
        "{git}  plan: [{{actions: [Prep], rolloutStrategy: {{maxConcurrency: 50, timeout: 300}}}}, {{actions: [AbortOnFailure], rolloutStrategy: {{maxConcurrency: 50, timeout: 240}}}}]\n"
    );
    let r = ManifestRun::new("flow", &recovered(), &one_line, &["--write"]);
    r.wrote(&one_line.replace(
        "timeout: 240}}]",
        "timeout: 240}}, {actions: [Upgrade], rolloutStrategy: {maxConcurrency: 50, timeout: 240}}]",
    ));
    let lines = format!(
        "{git}  plan: [
    {{ actions: [ Prep ], rolloutStrategy: {{ maxConcurrency: 50, timeout: 300 }} }},
    {{ actions: [ AbortOnFailure ], rolloutStrategy: {{ maxConcurrency: 50, timeout: 240 }} }}
  ]
"
    );
    let r = ManifestRun::new("flow-lines", &recovered(), &lines, &["--write"]);
    r.wrote(&lines.replace(
        "timeout: 240 } }\n",
        "timeout: 240 } },\n    { actions: [ Upgrade ], rolloutStrategy: { maxConcurrency: 50, timeout: 240 } }\n",
    ));
}

#[test]
fn manifest_four_space_indentation_and_a_plan_followed_by_other_keys() {
    let manifest = "apiVersion: lcm.openshift.io/v1alpha1
kind: ImageBasedGroupUpgrade
metadata:
    name: upgrade-4-20
    namespace: ztp-group
spec:
    plan:
        -   actions:
                - Prep
            rolloutStrategy:
                maxConcurrency: 50
                timeout: 300
        -   actions:
                - AbortOnFailure
            rolloutStrategy:
                maxConcurrency: 50
                timeout: 240

    clusterLabelSelectors:
        -   matchLabels:
                upgrade: \"4.20\"
    ibuSpec:
        seedImageRef:
            image: quay.io/seed/image:4.20.0
            version: 4.20.0
";
    let r = ManifestRun::new("four", &recovered(), manifest, &["--write"]);
    r.wrote(&manifest.replace(
        "                timeout: 240\n",
        "                timeout: 240
        -   actions:
                - Upgrade
            rolloutStrategy:
                maxConcurrency: 50
                timeout: 240
",
    ));
}

#[test]
fn manifest_crlf_quoted_keys_reordered_and_no_final_newline() {
    let git = git_head();
    // Line endings, quoting and key order are the file's; its last line still has no
    // line ending.
    let manifest = format!(
        "{git}  plan:
  - \"rolloutStrategy\": {{\"timeout\": 300, \"maxConcurrency\": 50}}
    \"actions\": [\"Prep\"]
  - \"rolloutStrategy\": {{\"timeout\": 240, \"maxConcurrency\": 50}}
    \"actions\": [\"AbortOnFailure\"]"
    )
    .replace('\n', "\r\n");
    let r = ManifestRun::new("crlf", &recovered(), &manifest, &["--write"]);
    r.wrote(&format!(
        "{manifest}\r\n  - \"rolloutStrategy\": {{\"timeout\": 240, \"maxConcurrency\": 50}}\r\n    \"actions\": [\"Upgrade\"]"
    ));
    let plain = git_plan(&[step("Prep", 300), step("AbortOnFailure", 240)]);
    let plain = plain.trim_end();
    let r = ManifestRun::new("no-newline", &recovered(), plain, &["--write"]);
    r.wrote(&format!("{plain}\n{}", step("Upgrade", 240).trim_end()));
}

#[test]
fn manifest_among_other_documents() {
    let ibgu = git_plan(&[step("Prep", 300)]);
    let other = ibgu.replace("name: upgrade-4-20", "name: upgrade-4-21");
    let manifest = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ztp-group\n---\n{other}---\n# the one on the hub\n{ibgu}...\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: notes, namespace: ztp-group}}\ndata: {{plan: \"kept as it is\"}}\n"
    );
    let r = ManifestRun::new(
        "documents",
        &prep_done(),
        &manifest,
        &["--write", "--actions", "Upgrade,FinalizeUpgrade"],
    );
    let added = step("Upgrade, FinalizeUpgrade", 240);
    r.wrote(&manifest.replace(&format!("{ibgu}..."), &format!("{ibgu}{added}...")));
    assert!(
        r.stdout().contains("document 3: its plan is the hub's"),
        "{}",
        r.stdout()
    );
}

#[test]
fn manifest_with_several_continuations_needs_actions_to_write() {
    let manifest = git_plan(&[step("Prep", 300)]);
    let r = ManifestRun::new("several", &prep_done(), &manifest, &["--write"]);
    assert_eq!(r.out.status.code(), Some(2), "{}", r.stdout());
    let choose = "4 continuations would be admitted: say which goes into the manifest with --actions Upgrade, --actions Upgrade,FinalizeUpgrade, --actions Abort, --actions AbortOnFailure";
    assert!(
        r.stderr().starts_with("ibgu-webhook: error: ") && r.stderr().contains(choose),
        "{}",
        r.stderr()
    );
    assert!(r.stderr().contains("nothing written"), "{}", r.stderr());
    assert!(r.stdout().contains(choose), "{}", r.stdout());
    r.untouched();
    drop(r);

    // Without --write it says the same and exits as next does; JSON has each proposal's
    // text for the manifest.
    let r = ManifestRun::new("several-json", &prep_done(), &manifest, &["-o", "json"]);
    assert_eq!(r.out.status.code(), Some(0), "{}", r.stderr());
    r.untouched();
    let v: Value = serde_json::from_slice(&r.out.stdout).expect("JSON report");
    assert_eq!(v["manifest"]["outcome"], "choose");
    assert_eq!(v["manifest"]["plan"], "same");
    assert_eq!(v["manifest"]["written"], false);
    assert_eq!(
        v["manifest"]["choose"],
        serde_json::json!([
            ["Upgrade"],
            ["Upgrade", "FinalizeUpgrade"],
            ["Abort"],
            ["AbortOnFailure"]
        ])
    );
    let proposals = v["proposals"].as_array().expect("proposals");
    assert_eq!(proposals.len(), 4);
    let end = manifest.len();
    for p in proposals {
        let edit = &p["manifest"];
        assert_eq!(edit["offset"], end, "{edit}");
        assert_eq!(edit["line"], 17, "{edit}");
        assert_eq!(edit["column"], 1, "{edit}");
        let actions: Vec<&str> = p["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(edit["text"], step(&actions.join(", "), 240));
    }
    drop(r);

    // --actions that names no continuation is a usage error.
    let r = ManifestRun::new(
        "not-a-continuation",
        &prep_done(),
        &manifest,
        &["--write", "--actions", "Rollback"],
    );
    assert_eq!(r.out.status.code(), Some(2));
    assert!(
        r.stderr().contains("--actions Rollback: not a step that may follow the plan; the continuations are Upgrade, Upgrade,FinalizeUpgrade, Abort, AbortOnFailure"),
        "{}",
        r.stderr()
    );
    r.untouched();
}

#[test]
fn manifest_whose_plan_is_not_the_hubs_gets_nothing_exit_5() {
    let cases = [
        // A step appended on the hub (kubectl patch), not in git.
        (
            vec![step("Prep", 300)],
            "git is behind the hub: the hub has 2 step(s), the manifest 1 step(s); add spec.plan[1] [AbortOnFailure] (maxConcurrency 50, timeout 240) to git first",
        ),
        // Git's next commit not synced yet.
        (
            vec![
                step("Prep", 300),
                step("AbortOnFailure", 240),
                step("Upgrade", 240),
            ],
            "git is ahead of the hub: the manifest has 3 step(s), the hub 2 step(s); the hub has not taken spec.plan[2] [Upgrade] (maxConcurrency 50, timeout 240) yet",
        ),
        // A step edited in git.
        (
            vec![step("Prep", 600), step("AbortOnFailure", 240)],
            "spec.plan[0] differs: the manifest has [Prep] (maxConcurrency 50, timeout 600), the hub [Prep] (maxConcurrency 50, timeout 300)",
        ),
    ];
    for (plan, want) in cases {
        let manifest = git_plan(&plan);
        let r = ManifestRun::new("differs", &recovered(), &manifest, &["--write"]);
        assert_eq!(r.out.status.code(), Some(5), "{}{}", r.stdout(), r.stderr());
        assert!(
            r.stdout().contains(want),
            "missing {want:?} in:\n{}",
            r.stdout()
        );
        assert!(r.stdout().contains("; nothing written\n"), "{}", r.stdout());
        r.untouched();
    }
    // A step that leaves out rollout fields is the hub's: the webhook stores the values
    // it holds for them.
    let manifest = git_plan(&[
        step("Prep", 300),
        "  - actions: [AbortOnFailure]\n".to_owned(),
    ]);
    let r = ManifestRun::new("defaults", &recovered(), &manifest, &["--write"]);
    r.written(&format!("{manifest}{}", step("Upgrade", 240)));
    // Judged on the stored object. `check --old` reads the file before as if stored,
    // without the values the webhook stored for its step 1, and would call them changed.
    r.hub_admits();
}

#[test]
fn manifest_while_a_step_runs_gets_nothing_exit_3() {
    let manifest = git_plan(&[step("Prep", 300), step("Upgrade", 240)]);
    for actions in [None, Some("FinalizeUpgrade")] {
        let mut args = vec!["--write"];
        args.extend(actions.iter().flat_map(|a| ["--actions", a]));
        let r = ManifestRun::new("wait", &upgrade_running(), &manifest, &args);
        assert_eq!(r.out.status.code(), Some(3), "{}{}", r.stdout(), r.stderr());
        assert!(
            r.stdout()
                .contains("document 1: its plan is the hub's; not now, nothing written\n"),
            "{}",
            r.stdout()
        );
        r.untouched();
    }
    // The same, in JSON.
    let r = ManifestRun::new(
        "wait-json",
        &upgrade_running(),
        &manifest,
        &["-o", "json", "--write"],
    );
    assert_eq!(r.out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&r.out.stdout).expect("JSON report");
    assert_eq!(v["manifest"]["outcome"], "notNow");
    assert_eq!(v["manifest"]["written"], false);
    assert_eq!(v["manifest"].get("edit"), None);
    r.untouched();
}

#[test]
fn manifest_that_cannot_be_used_is_exit_2() {
    let manifest = git_plan(&[step("Prep", 300)]);
    let elsewhere = manifest.replace("namespace: ztp-group", "namespace: other");
    let r = ManifestRun::new("elsewhere", &prep_done(), &elsewhere, &["--write"]);
    assert_eq!(r.out.status.code(), Some(2));
    assert!(
        r.stderr().contains("holds no ImageBasedGroupUpgrade ztp-group/upgrade-4-20 (the live object); it holds other/upgrade-4-20"),
        "{}",
        r.stderr()
    );
    r.untouched();
    let out = run(
        bin().arg("next").arg(&r.live).args(["--manifest", "-"]),
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--manifest names the manifest's file"));
    // --write and --actions need --manifest.
    for flag in [&["--write"][..], &["--actions", "Upgrade"]] {
        let out = run(bin().arg("next").arg(&r.live).args(flag), None);
        assert_eq!(out.status.code(), Some(2), "{flag:?}");
        assert!(
            text(&out.stderr).contains("--manifest"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn manifest_step_the_webhook_would_deny_is_not_written_exit_4() {
    // With a 38-character name, [Upgrade, FinalizeUpgrade]'s ClusterGroupUpgrade name
    // would be 64 characters (validating rule 8); [Upgrade] is admitted.
    let name = "u".repeat(38);
    let live = prep_done().replace("upgrade-4-20", &name);
    let manifest = git_plan(&[step("Prep", 300)]).replace("upgrade-4-20", &name);
    let r = ManifestRun::new(
        "denied",
        &live,
        &manifest,
        &["--write", "--actions", "Upgrade,FinalizeUpgrade"],
    );
    assert_eq!(r.out.status.code(), Some(4), "{}{}", r.stdout(), r.stderr());
    assert!(
        r.stdout().contains("document 1: the webhook would deny [Upgrade, FinalizeUpgrade]: spec.plan[1]: Forbidden: TALM would name this step's ClusterGroupUpgrade"),
        "{}",
        r.stdout()
    );
    assert!(
        r.stdout().ends_with("; nothing written\n"),
        "{}",
        r.stdout()
    );
    r.untouched();
    drop(r);
    let r = ManifestRun::new(
        "denied-other",
        &live,
        &manifest,
        &["--write", "--actions", "Upgrade"],
    );
    r.wrote(&format!("{manifest}{}", step("Upgrade", 240)));
}
