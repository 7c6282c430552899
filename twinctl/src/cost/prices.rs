//! The committed price tables, one per region (`twinctl/prices/<region>.yaml`), compiled into the
//! binary: `cost` never fetches a price at run time, so an estimate is reproducible, dated and works
//! offline.
//!
//! Owns: the tables' shape (every price the estimate uses, each with its unit, its AWS pricing page
//! and where it was checked; a missing or unknown key is an error) and the lookup by region, whose
//! failure lists the regions that have a table.
//! Must not: compute an estimate; [`super`] multiplies.

use serde::Deserialize;

use crate::error::{Error, Result};

/// Every region with a price table, and the table's text. Adding a region is adding its file here.
const TABLES: &[(&str, &str)] = &[
    ("eu-west-1", include_str!("../../prices/eu-west-1.yaml")),
    ("us-east-1", include_str!("../../prices/us-east-1.yaml")),
];

/// One price: `usd` dollars for `per` units of `unit`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub usd: f64,
    /// How many units `usd` buys (1,000,000 for "per million requests").
    #[serde(default = "one")]
    pub per: f64,
    /// What one unit is: "request", "GB-second", "key-month"…
    pub unit: String,
    /// The AWS pricing page the figure belongs to.
    pub source: String,
    /// Where the figure was re-read when the table was compiled (or that it was not found).
    pub checked: String,
}

fn one() -> f64 {
    1.0
}

impl Price {
    /// Dollars for one unit.
    pub fn unit_price(&self) -> f64 {
        self.usd / self.per
    }

    /// Dollars for `quantity` units.
    pub fn cost(&self, quantity: f64) -> f64 {
        quantity * self.usd / self.per
    }

    /// "0.20 per 1M requests", "1.00 per key-month", as AWS's pages write them.
    pub fn label(&self) -> String {
        let usd = amount(self.usd);
        if self.per == 1.0 {
            return format!("{usd} per {}", self.unit);
        }
        let per = [(1_000_000.0, "1M"), (10_000.0, "10k"), (1_000.0, "1k")]
            .iter()
            .find(|(quantity, _)| *quantity == self.per)
            .map_or_else(|| format!("{}", self.per), |(_, short)| (*short).to_owned());
        format!("{usd} per {per} {}s", self.unit)
    }
}

/// A price as written on the pricing pages: two decimals when it has no more, else all it has.
fn amount(usd: f64) -> String {
    let cents = usd * 100.0;
    if (cents - cents.round()).abs() < 1e-9 { format!("{usd:.2}") } else { format!("{usd}") }
}

/// One region's table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    pub region: String,
    pub currency: String,
    /// When the table was compiled (YYYY-MM-DD).
    pub as_of: String,
    pub prices: Prices,
}

/// Every price the estimate uses. CloudFront's and WAF's are global (priced where viewers are),
/// the same in every table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub lambda_requests: Price,
    pub lambda_duration_arm64: Price,
    pub lambda_duration_x86_64: Price,
    pub api_http_requests: Price,
    pub s3_get_requests: Price,
    pub s3_put_requests: Price,
    pub cloudfront_https_requests: Price,
    pub cloudfront_transfer_out: Price,
    pub cloudfront_transfer_to_origin: Price,
    pub cloudwatch_alarm_metric: Price,
    pub cloudwatch_dashboard: Price,
    pub cloudwatch_custom_metric: Price,
    pub logs_ingestion: Price,
    pub logs_storage: Price,
    pub kms_key: Price,
    pub kms_requests: Price,
    pub secrets_secret: Price,
    pub secrets_api_calls: Price,
    pub waf_web_acl: Price,
    pub waf_rule: Price,
    pub waf_requests: Price,
}

/// The regions that have a price table, sorted.
pub fn regions() -> Vec<&'static str> {
    TABLES.iter().map(|(region, _)| *region).collect()
}

/// Where a region's table lives in the repository (for people; the binary holds its copy).
pub fn table_path(region: &str) -> String {
    format!("twinctl/prices/{region}.yaml")
}

/// The price table of `region`, or a user error naming the regions that have one.
pub fn table(region: &str) -> Result<PriceTable> {
    let Some((_, text)) = TABLES.iter().find(|(known, _)| *known == region) else {
        return Err(Error::user_with_hint(
            format!("no price table for region {region}; price tables exist for: {}", regions().join(", ")),
            format!(
                "run with --region set to one of those, or add {} with each price's AWS pricing page",
                table_path(region)
            ),
        ));
    };
    parse(region, text)
}

fn parse(region: &str, text: &str) -> Result<PriceTable> {
    let table: PriceTable = serde_yaml::from_str(text)
        .map_err(|e| Error::Internal(anyhow::anyhow!("the price table {} does not parse: {e}", table_path(region))))?;
    if table.region != region {
        return Err(Error::Internal(anyhow::anyhow!(
            "the price table {} says it is for {}",
            table_path(region),
            table.region
        )));
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(prices: &Prices) -> Vec<&Price> {
        vec![
            &prices.lambda_requests,
            &prices.lambda_duration_arm64,
            &prices.lambda_duration_x86_64,
            &prices.api_http_requests,
            &prices.s3_get_requests,
            &prices.s3_put_requests,
            &prices.cloudfront_https_requests,
            &prices.cloudfront_transfer_out,
            &prices.cloudfront_transfer_to_origin,
            &prices.cloudwatch_alarm_metric,
            &prices.cloudwatch_dashboard,
            &prices.cloudwatch_custom_metric,
            &prices.logs_ingestion,
            &prices.logs_storage,
            &prices.kms_key,
            &prices.kms_requests,
            &prices.secrets_secret,
            &prices.secrets_api_calls,
            &prices.waf_web_acl,
            &prices.waf_rule,
            &prices.waf_requests,
        ]
    }

    #[test]
    fn every_table_parses_is_dated_and_names_aws_pages() {
        for region in regions() {
            let found = table(region).expect("table");
            assert_eq!(found.currency, "USD");
            let date = found.as_of.as_bytes();
            assert!(date.len() == 10 && date[4] == b'-' && date[7] == b'-', "{region}: as_of {}", found.as_of);
            for price in all(&found.prices) {
                assert!(price.usd > 0.0 && price.per >= 1.0, "{region}: {price:?}");
                assert!(price.source.starts_with("https://aws.amazon.com/"), "{region}: {}", price.source);
                assert!(!price.checked.trim().is_empty(), "{region}: {price:?}");
            }
        }
    }

    #[test]
    fn global_prices_are_the_same_in_every_table() {
        let tables: Vec<PriceTable> = regions().into_iter().map(|r| table(r).expect("table")).collect();
        for pair in tables.windows(2) {
            let (a, b) = (&pair[0].prices, &pair[1].prices);
            assert_eq!(a.cloudfront_https_requests.usd, b.cloudfront_https_requests.usd);
            assert_eq!(a.cloudfront_transfer_out.usd, b.cloudfront_transfer_out.usd);
            assert_eq!(a.cloudfront_transfer_to_origin.usd, b.cloudfront_transfer_to_origin.usd);
            assert_eq!(a.waf_web_acl.usd, b.waf_web_acl.usd);
            assert_eq!(a.waf_rule.usd, b.waf_rule.usd);
            assert_eq!(a.waf_requests.usd, b.waf_requests.usd);
        }
    }

    #[test]
    fn an_unknown_region_lists_the_known_ones() {
        let message = table("ap-south-2").expect_err("no table").to_string();
        assert!(message.contains("no price table for region ap-south-2"), "{message}");
        assert!(message.contains("eu-west-1, us-east-1"), "{message}");
    }

    #[test]
    fn labels_read_like_the_pricing_pages() {
        let price = |usd: f64, per: f64, unit: &str| Price {
            usd,
            per,
            unit: unit.to_owned(),
            source: String::new(),
            checked: String::new(),
        };
        assert_eq!(price(0.2, 1_000_000.0, "request").label(), "0.20 per 1M requests");
        assert_eq!(price(1.0, 1.0, "key-month").label(), "1.00 per key-month");
        assert_eq!(price(0.0004, 1_000.0, "request").label(), "0.0004 per 1k requests");
        assert_eq!(price(0.085, 1.0, "GB").label(), "0.085 per GB");
        assert_eq!(price(0.05, 10_000.0, "API call").label(), "0.05 per 10k API calls");
        assert!((price(0.03, 10_000.0, "request").cost(200.0) - 0.0006).abs() < 1e-12);
    }
}
