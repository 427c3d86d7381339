//! The CLI side of `gatehouse import better-auth`: a progress bar on a terminal (a line per table
//! otherwise), then the summary.

use indicatif::{ProgressBar, ProgressStyle};

use super::{Options, better_auth};
use crate::{apps_cli::with_store, config::Settings, domain::time::Clock, security::sealing::TokenSealer};

pub async fn better_auth_cli(
    mut settings: Settings,
    from: &str,
    mut options: Options,
    app: Option<&str>,
    as_json: bool,
) -> anyhow::Result<String> {
    settings.resolve_secret()?;
    let sealer = TokenSealer::new(&settings.secrets());
    with_store(&settings, async |store| {
        store.migrate().await?;
        if let Some(app) = app {
            let found = store.app(app).await?.ok_or_else(|| anyhow::anyhow!("--app: no app {app:?}"))?;
            options.app_id = Some(found.id);
        }
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>14} [{bar:40}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let terminal = !bar.is_hidden();
        let mut current = String::new();
        let mut progress = |table: &str, done: u64, total: u64| {
            if table != current {
                if !terminal && !current.is_empty() {
                    eprintln!("{current}: done");
                }
                current = table.to_string();
                bar.set_prefix(current.clone());
                bar.set_length(total);
            }
            bar.set_position(done);
        };
        let now = Clock::default().now_ms();
        let summary = better_auth(store, &sealer, from, &options, now, &mut progress).await;
        bar.finish_and_clear();
        let summary = summary?;
        Ok(if as_json { serde_json::to_string_pretty(&summary)? } else { summary.to_string() })
    })
    .await
}
