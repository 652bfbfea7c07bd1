//! The files an experiment leaves in `results/`: its markdown (with the command that made it),
//! its numbers as CSV or JSON, and its PNG figures.

use std::path::{Path, PathBuf};

use archnet_data::ImageDataset;
use archnet_data::fsutil::write_atomic;
use archnet_figures::{FigureError, Row, Series, Tile, bar_chart, image_grid, line_chart};
use archnet_model::{ArchNetKey, KeyMetadata};

use crate::attack::{AttackResult, Victims};
use crate::error::Result;
use crate::experiment::{ARMS, Budget, Table1Result, mean_std};
use crate::privacy_curve::CurveReport;

/// This process's command line as `archnet ARGS…`, written into a results file so that it says
/// how to make it again.
pub fn invocation() -> String {
    std::iter::once("archnet".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}

/// When and where a result was made, written beside its command in the results file.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// When the run finished (RFC 3339, UTC).
    pub finished: String,
    /// The machine it ran on, as [`machine`] describes it.
    pub machine: String,
}

impl Provenance {
    /// This moment on this machine.
    pub fn now() -> Self {
        Self {
            finished: archnet_data::fsutil::now_rfc3339(),
            machine: machine(),
        }
    }
}

/// `finished <when> on <machine>`.
impl std::fmt::Display for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "finished {} on {}", self.finished, self.machine)
    }
}

/// This machine for a results file: its core count and CPU model (`2 cores of AMD EPYC`),
/// the CPU named by `/proc/cpuinfo` where there is one, else the architecture.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{cores} cores of {cpu}")
}

/// Writes `table1-<dataset>.md`, `.csv`, `-curves.png` and `-ec.png` into `out` (created if
/// missing); `command` is how the result was made. Returns the paths written.
///
/// The `resnet` budget writes `table1-<dataset>-resnet.*` and also puts its table into
/// `table1-<dataset>.md` as a section, beside the cnn rows; a later run of another budget keeps
/// that section when it rewrites the file.
pub fn write_table1(result: &Table1Result, out: &Path, command: &str) -> Result<Vec<PathBuf>> {
    let dataset = &result.settings.dataset;
    create(out)?;
    let resnet = result.settings.budget == Budget::Resnet;
    let stem = if resnet {
        format!("table1-{dataset}-resnet")
    } else {
        format!("table1-{dataset}")
    };
    let main_md = out.join(format!("table1-{dataset}.md"));
    let existing = std::fs::read_to_string(&main_md).unwrap_or_default();
    let text = result.to_markdown(command);
    let mut written = Vec::new();
    if resnet {
        let section = demoted(&text);
        write_atomic(
            &main_md,
            with_section(&existing, Some(&section)).as_bytes(),
            0o644,
        )?;
        written.push(main_md);
        let own = out.join(format!("{stem}.md"));
        write_atomic(&own, text.as_bytes(), 0o644)?;
        written.push(own);
    } else {
        let kept = section(&existing);
        write_atomic(&main_md, with_section(&text, kept).as_bytes(), 0o644)?;
        written.push(main_md);
    }
    let csv = out.join(format!("{stem}.csv"));
    write_atomic(&csv, result.to_csv().as_bytes(), 0o644)?;
    let curves = out.join(format!("{stem}-curves.png"));
    let ec = out.join(format!("{stem}-ec.png"));
    draw_table1(result, &curves, &ec)?;
    written.extend([csv, curves, ec]);
    Ok(written)
}

/// The markers around the `resnet` budget's section of `table1-<dataset>.md`.
const SECTION_BEGIN: &str = "<!-- resnet budget: written by `--budget resnet`, kept when another budget rewrites this file -->";
const SECTION_END: &str = "<!-- end of the resnet budget -->";

/// `doc` split into the text around its `resnet` section and that section's inner text.
fn split_section(doc: &str) -> (String, Option<&str>) {
    if let Some(begin) = doc.find(SECTION_BEGIN) {
        let inner = begin + SECTION_BEGIN.len();
        if let Some(length) = doc[inner..].find(SECTION_END) {
            let end = inner + length;
            let around = format!("{}{}", &doc[..begin], &doc[end + SECTION_END.len()..]);
            return (around, Some(doc[inner..end].trim_matches('\n')));
        }
    }
    (doc.to_string(), None)
}

/// The `resnet` section of `doc` (its inner text), if it has one.
fn section(doc: &str) -> Option<&str> {
    split_section(doc).1
}

/// A budget's Markdown with every heading one level down, as a section of another file.
fn demoted(markdown: &str) -> String {
    markdown
        .trim_matches('\n')
        .lines()
        .map(|l| {
            if l.starts_with('#') {
                format!("#{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `doc` without its `resnet` section, then `inner` (already demoted) as that section when
/// given.
fn with_section(doc: &str, inner: Option<&str>) -> String {
    let mut out = split_section(doc).0.trim_end().to_string();
    out.push('\n');
    if let Some(inner) = inner {
        out += &format!("\n{SECTION_BEGIN}\n{inner}\n{SECTION_END}\n");
    }
    out
}

/// Writes `privacy-utility-<dataset>.md`, `.json` and `.png` into `out` (created if missing);
/// `command` is how the curve was made. Returns the paths written.
pub fn write_curve(report: &CurveReport, out: &Path, command: &str) -> Result<Vec<PathBuf>> {
    let dataset = &report.config.dataset;
    create(out)?;
    let md = out.join(format!("privacy-utility-{dataset}.md"));
    write_atomic(&md, report.to_markdown(command).as_bytes(), 0o644)?;
    let json = out.join(format!("privacy-utility-{dataset}.json"));
    let bytes = serde_json::to_vec_pretty(report).expect("a curve report serialises");
    write_atomic(&json, &bytes, 0o644)?;
    let png = out.join(format!("privacy-utility-{dataset}.png"));
    draw_curve(report, &png)?;
    Ok(vec![md, json, png])
}

/// Victims drawn in an attack picture.
const SHOWN: usize = 8;

/// Draws the first few victims and each attack's reconstructions of them, one row per attack.
pub fn draw_attacks(
    path: &Path,
    title: &str,
    victims: &Victims,
    results: &[AttackResult],
) -> Result<(), FigureError> {
    let len: usize = victims.shape.iter().product();
    let tiles = |values: &[f32]| -> Vec<Tile> {
        values
            .chunks(len)
            .take(SHOWN)
            .map(|v| Tile {
                shape: victims.shape,
                values: v.to_vec(),
                range: Some((0.0, 1.0)),
            })
            .collect()
    };
    let mut rows = vec![Row {
        label: "victim images".into(),
        tiles: tiles(&victims.images),
    }];
    rows.extend(results.iter().map(|r| Row {
        label: r.attack.clone(),
        tiles: tiles(&r.reconstructions),
    }));
    image_grid(path, title, &rows, 3)
}

fn create(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| archnet_data::DataError::io(dir, e))?;
    Ok(())
}

/// The curve as a chart: x is log2 ε (no noise one step right of the largest ε), y percent.
fn draw_curve(report: &crate::privacy_curve::CurveReport, path: &Path) -> Result<(), FigureError> {
    let finite_max = report
        .points
        .iter()
        .map(|p| p.epsilon)
        .filter(|e| e.is_finite())
        .fold(1.0f64, f64::max);
    let x = |e: f64| {
        if e.is_finite() {
            e.log2()
        } else {
            finite_max.log2() + 1.0
        }
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let series =
        |name: &str, y: &dyn Fn(&crate::privacy_curve::CurvePoint) -> Option<f64>| Series {
            name: name.into(),
            points: report
                .points
                .iter()
                .filter_map(|p| y(p).map(|v| (x(p.epsilon), 100.0 * v)))
                .collect(),
        };
    let strongest_at = |p: &crate::privacy_curve::CurvePoint, n: usize| {
        p.attacks
            .iter()
            .filter(|a| a.pairs == n)
            .map(|a| a.reidentification.all)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    };
    let all = [
        series("original cnn (AO)", &|_| {
            Some(mean(&report.original_accuracy))
        }),
        series("node cnn on ciphertexts (AE)", &|p| {
            Some(mean(&p.node_accuracy))
        }),
        series("proxy head", &|p| {
            Some(p.proxy_accuracy).filter(|v| v.is_finite())
        }),
        series("re-identified, 1,000 pairs", &|p| strongest_at(p, 1_000)),
        series("re-identified, look-alike key + learned map", &|p| {
            p.lookalike
                .iter()
                .find(|a| a.method.contains("learned map"))
                .map(|a| a.reidentification.all)
        }),
        series("re-identified by the class mean", &|p| {
            Some(p.baseline.reidentification.all)
        }),
        series("re-identification bound (any attacker)", &|p| {
            p.reidentification_bound
        }),
    ];
    line_chart(
        path,
        &format!(
            "{}: private keys, utility and re-identification of {} victims",
            report.config.dataset, report.config.victims
        ),
        "log2 ε (the rightmost point: no noise, ε = ∞)",
        "percent",
        &all,
    )
}

/// Learning curves (test accuracy per epoch, mean over seeds) and the EC bar chart (Fig. 6).
fn draw_table1(result: &Table1Result, curves: &Path, ec: &Path) -> Result<(), FigureError> {
    // Only the arms this budget ran.
    let arms: Vec<&str> = ARMS
        .into_iter()
        .filter(|arm| result.runs.iter().any(|r| r.arm == *arm))
        .collect();
    let series: Vec<Series> = arms
        .iter()
        .map(|arm| {
            let runs: Vec<_> = result.runs.iter().filter(|r| r.arm == *arm).collect();
            let epochs = runs.iter().map(|r| r.history.len()).min().unwrap_or(0);
            let points = (0..epochs)
                .map(|e| {
                    let accs: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| r.history[e].validation_accuracy)
                        .collect();
                    ((e + 1) as f64, 100.0 * mean_std(&accs).0)
                })
                .collect();
            Series {
                name: (*arm).to_string(),
                points,
            }
        })
        .collect();
    let title = format!(
        "{}: test accuracy while training ({} seed(s))",
        result.settings.dataset,
        result.settings.seeds.len()
    );
    line_chart(curves, &title, "epoch", "test accuracy (%)", &series)?;
    let bars: Vec<(String, f64)> = arms
        .iter()
        .filter(|arm| **arm != "original")
        .map(|arm| ((*arm).to_string(), 100.0 * result.encryption_cost(arm)))
        .collect();
    let title = format!(
        "{}: EC = (AO - AE) / AO per method (lower is better)",
        result.settings.dataset
    );
    bar_chart(ec, &title, "EC (%)", &bars)?;
    Ok(())
}

/// The paper's Fig. 8/9: `count` of `data`'s images, their ciphertexts channel by channel (and
/// three channels as one colour image), and D1's reconstruction when the key has a decoder,
/// drawn into `out/encryption-grid.png`; returns that path.
// Why one function: it draws one figure, row after row (originals, channels, reconstructions), into
// one canvas.
pub fn draw_encryption(
    key: &ArchNetKey,
    meta: &KeyMetadata,
    data: &ImageDataset,
    count: usize,
    out: &Path,
) -> Result<PathBuf> {
    let n = count.min(data.len()).max(1);
    let indices: Vec<usize> = (0..n).collect();
    let [c, h, w] = data.shape;
    let plain = data.batch_f32(&indices);
    let cipher_shape = meta.architecture.cipher_shape;
    let [cc, ch, cw] = cipher_shape;
    let cipher_values = key.encrypt_values(data.shape, &plain, n);
    let recon = meta
        .architecture
        .has_decoder()
        .then(|| key.decrypt_values(cipher_shape, &cipher_values, n));
    let plain_len = c * h * w;
    let cipher_len = cc * ch * cw;
    let plane = ch * cw;
    let images = |values: &[f32]| -> Vec<Tile> {
        (0..n)
            .map(|i| Tile {
                shape: [c, h, w],
                values: values[i * plain_len..(i + 1) * plain_len].to_vec(),
                range: Some((0.0, 1.0)),
            })
            .collect()
    };
    let channel = |k: usize| -> Vec<Tile> {
        (0..n)
            .map(|i| {
                let start = i * cipher_len + k * plane;
                Tile {
                    shape: [1, ch, cw],
                    values: cipher_values[start..start + plane].to_vec(),
                    range: None,
                }
            })
            .collect()
    };
    let mut rows = vec![Row {
        label: "original".into(),
        tiles: images(&plain),
    }];
    for k in 0..cc.min(3) {
        rows.push(Row {
            label: format!("E1(x) channel {k}"),
            tiles: channel(k),
        });
    }
    if cc >= 3 {
        // The paper's view: three dimensions of the ciphertext shown as one colour image.
        let tiles = (0..n)
            .map(|i| Tile {
                shape: [3, ch, cw],
                values: cipher_values[i * cipher_len..i * cipher_len + 3 * plane].to_vec(),
                range: None,
            })
            .collect();
        rows.push(Row {
            label: "E1(x) ch. 0-2 as RGB".into(),
            tiles,
        });
    }
    if let Some(recon) = &recon {
        rows.push(Row {
            label: "D1(E1(x))".into(),
            tiles: images(recon),
        });
    }
    std::fs::create_dir_all(out).map_err(|e| archnet_data::DataError::io(out, e))?;
    let path = out.join("encryption-grid.png");
    let title = format!(
        "key {} ({}): {}x{}x{} images -> {}x{}x{} ciphertexts (channels min-max scaled)",
        meta.key_id, meta.architecture.preset, c, h, w, cc, ch, cw
    );
    let zoom = if ch >= 64 { 2 } else { 3 };
    image_grid(&path, &title, &rows, zoom)?;
    Ok(path)
}

/// The files an experiment wrote, as one `written: a, b and c` line.
pub struct Written<'a>(pub &'a [PathBuf]);

impl std::fmt::Display for Written<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.0.iter().map(|p| p.display().to_string()).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => {
                write!(f, "written: {} and {last}", rest.join(", "))
            }
            _ => write!(f, "written: {}", names.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_named_by_its_cores_and_cpu() {
        let machine = machine();
        let (cores, cpu) = machine.split_once(" cores of ").expect(&machine);
        assert!(cores.parse::<usize>().is_ok_and(|n| n >= 1), "{machine}");
        assert!(!cpu.trim().is_empty(), "{machine}");
    }

    #[test]
    fn the_resnet_section_survives_a_rewrite_of_the_cnn_table_and_replaces_itself() {
        let cnn = "# Table 1 on cifar10 (full budget)\n\n| ArchNet | 59% |\n";
        let resnet = "# Table 1 on cifar10 (resnet budget)\n\n| ArchNet | 70% |\n";
        let first = with_section(cnn, Some(&demoted(resnet)));
        assert!(first.starts_with(cnn), "{first}");
        assert!(
            first.contains("## Table 1 on cifar10 (resnet budget)"),
            "{first}"
        );
        assert_eq!(first.matches("70%").count(), 1);

        // The cnn budget rewrites the file: the section is kept as it was.
        let cnn2 = cnn.replace("59%", "60%");
        let rewritten = with_section(&cnn2, section(&first));
        assert!(
            rewritten.contains("60%") && !rewritten.contains("59%"),
            "{rewritten}"
        );
        assert_eq!(section(&rewritten), section(&first));
        assert!(
            !rewritten.contains("### "),
            "headings are moved down once: {rewritten}"
        );

        // The resnet budget again: its new table replaces the old one.
        let again = with_section(&rewritten, Some(&demoted(&resnet.replace("70%", "71%"))));
        assert_eq!(again.matches(SECTION_BEGIN).count(), 1, "{again}");
        assert!(again.contains("71%") && !again.contains("70%"), "{again}");
        assert!(again.contains("60%"));
    }
}
