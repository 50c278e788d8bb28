//! Running the `ibgu-webhook` binary as a user or a pipeline would, with stdin.
// Each test crate uses a part of it.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// `ibgu-webhook`, as cargo built it for this test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ibgu-webhook"))
}

/// Runs `cmd` with `stdin`, with none of the environment's `IBGU_*` settings (nor a pod's
/// `KUBERNETES_SERVICE_HOST`) but those the caller set: the developer's or a CI pod's
/// never leak into a test.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    let set: Vec<String> = cmd
        .get_envs()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if (name.starts_with("IBGU_") || name == "KUBERNETES_SERVICE_HOST") && !set.contains(&name)
        {
            cmd.env_remove(&name);
        }
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ibgu-webhook");
    let mut pipe = child.stdin.take().expect("stdin");
    pipe.write_all(stdin.unwrap_or_default())
        .expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("wait")
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
