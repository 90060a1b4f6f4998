//! `fhe sim …` and the asic-sim arguments: the ASIC simulator without arithmetic.

use crate::{preset_named, progress, Format};
use anyhow::Result;
use clap::{Args, Subcommand};
use fhe_models::backends::{sim_hardware, UsageError};
use fhe_models::sim;

#[derive(Subcommand, Debug)]
pub(crate) enum SimCommand {
    /// Price one program (cost-only): latency, per primitive and per step, utilisation,
    /// off-chip bytes, energy.
    Price(SimPriceArgs),
    /// Price one program over lanes × scratchpad sizes: CSV and a PNG plot.
    Sweep(SimSweepArgs),
    /// Our bootstrapping and ResNet-20 on SHARP and ARK next to the papers' figures.
    Validate(SimValidateArgs),
}

#[derive(Args, Debug)]
pub(crate) struct SimProgramArgs {
    /// resnet20, resnet32, resnet44, resnet56, resnet110, or bootstrap.
    #[arg(long, default_value = "resnet20")]
    pub(crate) model: String,
    /// Hardware: sharp, ark, or a .toml description.
    #[arg(long, default_value = "sharp")]
    pub(crate) hardware: String,
    /// Bootstrapping preset.
    #[arg(long, default_value = "boot-n16")]
    pub(crate) params: String,
    /// Allow the insecure test presets (tests only).
    #[arg(long, hide = true)]
    pub(crate) insecure_test_params: bool,
}

#[derive(Args, Debug)]
pub(crate) struct SimPriceArgs {
    #[command(flatten)]
    pub(crate) program: SimProgramArgs,
    /// Output format: a readable report, or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// List every step in the table.
    #[arg(long)]
    pub(crate) steps: bool,
}

#[derive(Args, Debug)]
pub(crate) struct SimSweepArgs {
    #[command(flatten)]
    pub(crate) program: SimProgramArgs,
    /// Lane counts (every unit scaled with them).
    #[arg(long, value_delimiter = ',', default_value = "256,512,1024,2048")]
    pub(crate) lanes: Vec<usize>,
    /// Scratchpad sizes (MB).
    #[arg(long, value_delimiter = ',', default_value = "32,64,128,256,512,1024")]
    pub(crate) scratchpad_mb: Vec<f64>,
    /// CSV output.
    #[arg(long, default_value = "sweep.csv")]
    pub(crate) csv: std::path::PathBuf,
    /// PNG output.
    #[arg(long, default_value = "sweep.png")]
    pub(crate) png: std::path::PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct SimValidateArgs {
    /// Output format: a table, or one JSON object per row.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
}

pub(crate) fn run_sim(c: &SimCommand) -> Result<()> {
    let program = |p: &SimProgramArgs| -> Result<(
        fhe_backend_asic_sim::Program,
        fhe_backend_asic_sim::Hardware,
    )> {
        let hw = sim_hardware(&p.hardware)?;
        let (preset, insecure) = preset_named(&p.params, p.insecure_test_params)?;
        let prog = if p.model == "bootstrap" {
            sim::bootstrap_program(&preset, insecure)?
        } else {
            sim::resnet_program(&p.model, &preset, insecure)
                .map_err(|e| UsageError(format!("{e:#}")))?
        };
        Ok((prog, hw))
    };
    match c {
        SimCommand::Price(a) => {
            let t = std::time::Instant::now();
            let (prog, hw) = program(&a.program)?;
            let r = prog.price(&hw)?;
            progress(&format!(
                "{} on {}: priced in {:.1} s (cost-only)",
                a.program.model,
                hw.name,
                t.elapsed().as_secs_f64()
            ));
            match a.format {
                Format::Json => println!("{}", serde_json::to_string(&r)?),
                Format::Table => print!("{}", r.table(a.steps)),
            }
        }
        SimCommand::Sweep(a) => {
            let (prog, hw) = program(&a.program)?;
            let points =
                fhe_backend_asic_sim::sweep::sweep(&prog, &hw, &a.lanes, &a.scratchpad_mb)?;
            std::fs::write(&a.csv, fhe_backend_asic_sim::sweep::to_csv(&points))?;
            let title = format!("{} on {} variants", a.program.model, hw.name);
            fhe_backend_asic_sim::sweep::plot_png(&points, &title, &a.png)
                .map_err(|e| anyhow::anyhow!("drawing {}: {e}", a.png.display()))?;
            progress(&format!(
                "{} design points: {} and {}",
                points.len(),
                a.csv.display(),
                a.png.display()
            ));
        }
        SimCommand::Validate(a) => {
            let (preset, _) = preset_named("boot-n16", false)?;
            let rows = sim::validate(&preset)?;
            match a.format {
                Format::Json => {
                    for r in &rows {
                        println!("{}", serde_json::to_string(r)?);
                    }
                }
                Format::Table => print!("{}", sim::validation_table(&rows)),
            }
        }
    }
    Ok(())
}
