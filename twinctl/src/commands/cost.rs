//! `twinctl cost <env>`: an itemised estimate of what the environment costs — every month (idle,
//! and with traffic) and per 1,000 chats — from the configuration, the stack templates (app and data) and the
//! committed price table of the environment's region ([`crate::cost`]). It makes no AWS call, so it
//! runs anywhere, before the first deploy too. The JSON document is versioned by `schema_version`
//! (README, "What it costs").

use std::collections::BTreeMap;

use crate::bundle::architecture_label;
use crate::cli::CostArgs;
use crate::context::Context;
use crate::cost::{self, Assumptions, Estimate, Item};
use crate::error::{Error, Result};

pub async fn run(ctx: &Context, args: &CostArgs) -> Result<()> {
    let environment = ctx.config.environment(&args.env)?;
    let region = ctx.global.region.clone().unwrap_or_else(|| environment.region.clone());
    let mut templates = Vec::new();
    for relative in [&ctx.config.templates.stack, &ctx.config.templates.data] {
        let path = ctx.config.resolve(relative);
        templates.push(
            std::fs::read_to_string(&path)
                .map_err(|e| Error::user(format!("cannot read the stack template {}: {e}", path.display())))?,
        );
    }
    let templates: Vec<&str> = templates.iter().map(String::as_str).collect();
    // The parameters a deploy passes (deploy::stack_parameters) that exist before it runs.
    let mut parameters: BTreeMap<String, String> = environment.parameters.clone();
    parameters.insert("ProjectName".into(), ctx.config.project.clone());
    parameters.insert("EnvironmentName".into(), args.env.clone());
    parameters.insert("Architecture".into(), architecture_label(ctx.config.architecture(&environment)).to_owned());
    parameters.insert("RetainedReleases".into(), environment.retain_releases.to_string());
    let assumptions = Assumptions {
        chats: args.chats,
        duration_ms: args.duration_ms,
        chats_per_session: args.chats_per_session,
        page_requests: args.page_requests,
        page_kb: args.page_kb,
        request_kb: args.request_kb,
        response_kb: args.response_kb,
        log_bytes: args.log_bytes,
        cold_starts_per_1000_chats: args.cold_starts,
    };
    let estimate = cost::estimate(&args.env, &region, &templates, &parameters, assumptions)?;
    for warning in &estimate.warnings {
        ctx.printer.warn(warning);
    }
    ctx.printer.result(&estimate, || render(&estimate));
    Ok(())
}

/// A count as people write it: whole when it is, else up to six decimals.
fn quantity(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        return format!("{value:.0}");
    }
    let text = format!("{value:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Dollars with `places` decimals; an amount too small to show says so instead of "0.0000".
fn dollars(value: f64, places: usize) -> String {
    let smallest = 0.5 * 10f64.powi(-i32::try_from(places).unwrap_or(4));
    if value > 0.0 && value < smallest {
        return format!("<{:.*}", places, 2.0 * smallest);
    }
    format!("{value:.places$}")
}

fn section(text: &mut String, title: &str, items: &[Item], places: usize, total: (&str, f64)) {
    text.push_str(&format!("\n{title}\n"));
    let header = ["ITEM", "DETAIL", "PRICE (USD)", "QUANTITY", "USD"];
    let mut rows: Vec<[String; 5]> = vec![header.map(str::to_owned)];
    for item in items {
        rows.push([
            item.item.clone(),
            item.detail.clone(),
            item.price_label.clone(),
            quantity(item.quantity),
            dollars(item.usd, places),
        ]);
    }
    rows.push([total.0.to_owned(), String::new(), String::new(), String::new(), dollars(total.1, places)]);
    let widths: Vec<usize> = (0..5).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for row in &rows {
        let mut line = String::from("  ");
        for (i, cell) in row.iter().enumerate() {
            let width = widths[i];
            // Numbers align right, words left.
            let cell = if i >= 3 { format!("{cell:>width$}") } else { format!("{cell:<width$}") };
            line.push_str(&cell);
            line.push_str("  ");
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
}

fn render(estimate: &Estimate) -> String {
    let a = &estimate.assumptions;
    let mut text = format!(
        "{}: {} in {}, prices as of {} ({}), free tiers not counted\n",
        estimate.environment, estimate.currency, estimate.region, estimate.prices_as_of, estimate.price_table
    );
    text.push_str(&format!("function: {} MB {}\n", estimate.function.memory_mb, estimate.function.architecture));
    let totals = &estimate.totals;
    section(&mut text, "Every month, idle or not", &estimate.fixed, 2, ("idle per month", totals.idle_per_month));
    section(
        &mut text,
        "Every month chats are served (billed by the hour)",
        &estimate.with_traffic,
        2,
        ("per month with traffic, idle included", totals.with_traffic_per_month),
    );
    let title =
        if a.chats == 1000 { "Per 1,000 chats".to_owned() } else { format!("For {} chats", quantity(a.chats as f64)) };
    section(&mut text, &title, &estimate.variable, 4, ("total", totals.variable));
    if a.chats != 1000 {
        text.push_str(&format!("  per 1,000 chats: {}\n", dollars(totals.per_1000_chats, 4)));
    }
    text.push_str(&format!(
        "\nAssumed (flags): {} ms per chat (configured, not measured), {} chats per visit, {} requests and {} KB \
         per visit, {} KB up and {} KB down per chat, {} log bytes per chat, {} function starts per 1,000 chats.\n",
        a.duration_ms,
        a.chats_per_session,
        a.page_requests,
        a.page_kb,
        a.request_kb,
        a.response_kb,
        a.log_bytes,
        a.cold_starts_per_1000_chats
    ));
    text.push_str("Not counted:\n");
    for line in &estimate.not_counted {
        text.push_str(&format!("  - {line}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{dollars, quantity};

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(quantity(1000.0), "1000");
        assert_eq!(quantity(0.001396983861923), "0.001397");
        assert_eq!(quantity(2.5), "2.5");
        assert_eq!(dollars(5.4, 2), "5.40");
        assert_eq!(dollars(0.0275, 4), "0.0275");
        assert_eq!(dollars(0.00004, 4), "<0.0001");
        assert_eq!(dollars(0.0, 4), "0.0000");
    }
}
