//! What every command receives: the configuration, the printer and the global flags.
//! [`Context::target`] turns an environment name into a [`Target`], once per command.

use crate::cli::Global;
use crate::config::Config;
use crate::output::Printer;

#[derive(Debug)]
pub struct Context {
    pub config: Config,
    pub printer: Printer,
    pub global: Global,
}
