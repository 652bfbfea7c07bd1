//! Progress bars for long commands (drawn on stderr, hidden when it is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting samples, with a message slot for loss and throughput.
pub fn samples_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} samples, eta {{eta}} {{msg}}"
        ))
        .expect("valid template"),
    );
    bar
}

/// A spinner naming the stage a multi-step job is in.
pub fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template(&format!("{what} [{{elapsed_precise}}] {{spinner}} {{msg}}"))
            .expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// A bar counting bytes and their rate.
pub fn bytes_bar(what: &str) -> ProgressBar {
    ProgressBar::new(0).with_style(
        ProgressStyle::with_template(&format!("{what} {{bytes}} {{bytes_per_sec}}"))
            .expect("valid template"),
    )
}
