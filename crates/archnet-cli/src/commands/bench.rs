//! `archnet bench market`
use crate::market_cli::BenchMarketArgs;

pub fn market(_args: &BenchMarketArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
