//! The catch-up overcost table laid out like the poster: rows are architectures with their size,
//! columns are grouped by κ, then ζ (docs/command-line.md `overcost`, `reproduce`).
//!
//! [`OvercostTable`] collects one [`OvercostSummary`] per (architecture, κ, ζ) and writes it as
//! aligned text for a terminal, Markdown, LaTeX (booktabs) and long-format CSV. Rows keep the
//! order in which architectures were first added; κ and ζ columns are sorted ascending.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Estimate, OvercostSummary};
use crate::curve::quote_field;
use crate::error::MetricsError;

/// One architecture, as a table row names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchLabel {
    /// The architecture's name, e.g. `resnet18`.
    pub name: String,
    /// Its exact parameter count, when known.
    pub params: Option<u64>,
}

impl ArchLabel {
    /// `resnet18 (11.2M)`, or the bare name without a parameter count.
    pub fn row_label(&self) -> String {
        match self.params {
            Some(p) => format!("{} ({})", self.name, format_params(p)),
            None => self.name.clone(),
        }
    }
}

/// The width of [`OvercostTable::to_text`]'s blocks: an ordinary terminal.
pub const TEXT_WIDTH: usize = 100;

/// A parameter count the way the poster writes it: `543K`, `11.2M`, `1.2B`.
pub fn format_params(params: u64) -> String {
    let p = params as f64;
    let scaled = |x: f64, unit: &str| {
        let text = if x >= 100.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        };
        format!("{}{unit}", text.strip_suffix(".0").unwrap_or(&text))
    };
    if p >= 1e9 {
        scaled(p / 1e9, "B")
    } else if p >= 1e6 {
        scaled(p / 1e6, "M")
    } else if p >= 1e3 {
        scaled(p / 1e3, "K")
    } else {
        params.to_string()
    }
}

/// A fraction as a percentage header: 0.01 → `1 %`, 0.005 → `0.5 %`, 0.99 → `99 %`.
pub fn format_fraction_pct(fraction: f64) -> String {
    let text = format!("{:.6}", fraction * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} %")
}

/// One cell of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OvercostCell {
    /// The row's architecture.
    pub arch: ArchLabel,
    /// κ.
    pub kappa: f64,
    /// ζ = n0 / n1.
    pub zeta: f64,
    /// The runs' overcosts summarised.
    pub summary: OvercostSummary,
}

/// The majority-training zone of the runs of one (architecture, ζ): Theorem 2 along training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneCell {
    /// The row's architecture name.
    pub arch: String,
    /// ζ.
    pub zeta: f64,
    /// Median over the runs with zone probes of the fraction of training time in the adversarial
    /// zone (`None` when no run recorded probes).
    pub adversarial_time_fraction: Option<f64>,
    /// Runs with a minority initial drop.
    pub minority_drops: usize,
    /// Runs.
    pub runs: usize,
}

/// The catch-up overcost table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OvercostTable {
    cells: Vec<OvercostCell>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    zones: Vec<ZoneCell>,
}

impl OvercostTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the cell for (`arch`, `kappa`, `zeta`).
    ///
    /// # Errors
    /// [`MetricsError::Invalid`] if that cell exists already, or the same architecture name was
    /// added with a different parameter count.
    pub fn insert(
        &mut self,
        arch: ArchLabel,
        kappa: f64,
        zeta: f64,
        summary: OvercostSummary,
    ) -> Result<(), MetricsError> {
        for c in &self.cells {
            if c.arch.name == arch.name && c.arch.params != arch.params {
                return Err(MetricsError::Invalid(format!(
                    "architecture `{}` added with {:?} and {:?} parameters",
                    arch.name, c.arch.params, arch.params
                )));
            }
            if c.arch.name == arch.name && c.kappa == kappa && c.zeta == zeta {
                return Err(MetricsError::Invalid(format!(
                    "the cell ({}, κ = {kappa}, ζ = {zeta}) is already in the table",
                    arch.name
                )));
            }
        }
        self.cells.push(OvercostCell {
            arch,
            kappa,
            zeta,
            summary,
        });
        Ok(())
    }

    /// Sets the zone statistics of (`zone.arch`, `zone.zeta`), shown as extra columns of the CSV
    /// and a second Markdown table.
    pub fn set_zone(&mut self, zone: ZoneCell) {
        self.zones
            .retain(|z| !(z.arch == zone.arch && z.zeta == zone.zeta));
        self.zones.push(zone);
    }

    /// The zone statistics of (`arch`, `zeta`).
    pub fn zone(&self, arch: &str, zeta: f64) -> Option<&ZoneCell> {
        self.zones.iter().find(|z| z.arch == arch && z.zeta == zeta)
    }

    /// The cells in insertion order.
    pub fn cells(&self) -> &[OvercostCell] {
        &self.cells
    }

    /// The architectures in order of first insertion.
    pub fn archs(&self) -> Vec<&ArchLabel> {
        let mut out: Vec<&ArchLabel> = Vec::new();
        for c in &self.cells {
            if !out.iter().any(|a| a.name == c.arch.name) {
                out.push(&c.arch);
            }
        }
        out
    }

    /// The κ values, ascending.
    pub fn kappas(&self) -> Vec<f64> {
        sorted_unique(self.cells.iter().map(|c| c.kappa))
    }

    /// The ζ values, ascending.
    pub fn zetas(&self) -> Vec<f64> {
        sorted_unique(self.cells.iter().map(|c| c.zeta))
    }

    /// The cell for (`arch`, `kappa`, `zeta`).
    pub fn get(&self, arch: &str, kappa: f64, zeta: f64) -> Option<&OvercostCell> {
        self.cells
            .iter()
            .find(|c| c.arch.name == arch && c.kappa == kappa && c.zeta == zeta)
    }

    /// Header rows and body rows of cell texts (the grid every text format shares).
    fn grid(&self) -> (Vec<f64>, Vec<f64>, Vec<Row>) {
        let kappas = self.kappas();
        let zetas = self.zetas();
        let rows = self
            .archs()
            .into_iter()
            .map(|arch| {
                let cells = kappas
                    .iter()
                    .flat_map(|&k| zetas.iter().map(move |&z| (k, z)))
                    .map(|(k, z)| {
                        self.get(&arch.name, k, z)
                            .map(|c| c.summary.cell())
                            .unwrap_or_else(|| "–".into())
                    })
                    .collect();
                (arch.row_label(), cells)
            })
            .collect();
        (kappas, zetas, rows)
    }

    /// Aligned plain text for a terminal: one block per κ, each at most [`TEXT_WIDTH`] columns
    /// wide (see [`to_text_width`](Self::to_text_width)).
    pub fn to_text(&self) -> String {
        self.to_text_width(TEXT_WIDTH)
    }

    /// Aligned plain text, one block per κ: a `κ = …` title, a header of ζ columns and a row per
    /// architecture with `median [min–max]` cells. A block that would be wider than `width`
    /// columns shows the medians alone (the ranges and censoring counts stay in the Markdown, CSV
    /// and LaTeX tables).
    pub fn to_text_width(&self, width: usize) -> String {
        let kappas = self.kappas();
        let zetas = self.zetas();
        let archs = self.archs();
        let label_width = archs
            .iter()
            .map(|a| a.row_label().chars().count())
            .chain(["architecture".len()])
            .max()
            .unwrap_or(0);
        let pad =
            |s: &str, w: usize| format!("{}{s}", " ".repeat(w.saturating_sub(s.chars().count())));
        let mut out = String::new();
        if kappas.is_empty() {
            out.push_str("architecture\n");
            return out;
        }
        for (b, &kappa) in kappas.iter().enumerate() {
            let block = |ranges: bool| -> (Vec<String>, usize) {
                let rows: Vec<(String, Vec<String>)> = archs
                    .iter()
                    .map(|a| {
                        let cells = zetas
                            .iter()
                            .map(|&z| {
                                self.get(&a.name, kappa, z)
                                    .map(|c| c.summary.short_cell(ranges))
                                    .unwrap_or_else(|| "–".into())
                            })
                            .collect();
                        (a.row_label(), cells)
                    })
                    .collect();
                let widths: Vec<usize> = zetas
                    .iter()
                    .enumerate()
                    .map(|(j, &z)| {
                        rows.iter()
                            .map(|r| r.1[j].chars().count())
                            .chain([format_fraction_pct(z).chars().count()])
                            .max()
                            .unwrap_or(0)
                    })
                    .collect();
                let mut lines = Vec::new();
                let mut header = format!("{:<label_width$} |", "architecture");
                for (w, &z) in widths.iter().zip(&zetas) {
                    header.push_str("  ");
                    header.push_str(&pad(&format_fraction_pct(z), *w));
                }
                let line_width = header.chars().count();
                lines.push(header);
                lines.push("-".repeat(line_width));
                for (label, cells) in &rows {
                    let mut line = format!(
                        "{label}{} |",
                        " ".repeat(label_width - label.chars().count())
                    );
                    for (cell, w) in cells.iter().zip(&widths) {
                        line.push_str("  ");
                        line.push_str(&pad(cell, *w));
                    }
                    lines.push(line);
                }
                (lines, line_width)
            };
            let (mut lines, w) = block(true);
            let mut title = format!("κ = {}", format_fraction_pct(kappa));
            if w > width {
                lines = block(false).0;
                title.push_str(" (medians; ranges in table.md)");
            }
            if b > 0 {
                out.push('\n');
            }
            out.push_str(&title);
            out.push('\n');
            for l in lines {
                out.push_str(&l);
                out.push('\n');
            }
        }
        out
    }

    /// Markdown: the header row names the κ groups, the first (bold) row the ζ columns, as on the
    /// poster; cells are `median [min–max]` with `>X` for lower bounds and `n/a`.
    pub fn to_markdown(&self) -> String {
        let (kappas, zetas, rows) = self.grid();
        let mut out = String::from("| architecture |");
        for &k in &kappas {
            out.push_str(&format!(" κ = {} |", format_fraction_pct(k)));
            out.push_str(&" |".repeat(zetas.len().saturating_sub(1)));
        }
        out.push_str("\n| :-- |");
        out.push_str(&" --: |".repeat(kappas.len() * zetas.len()));
        out.push_str("\n| |");
        for _ in &kappas {
            for &z in &zetas {
                out.push_str(&format!(" **{}** |", format_fraction_pct(z)));
            }
        }
        out.push('\n');
        for (label, cells) in rows {
            out.push_str(&format!("| {} |", label.replace('|', "\\|")));
            for cell in cells {
                out.push_str(&format!(" {cell} |"));
            }
            out.push('\n');
        }
        if !self.zones.is_empty() {
            out.push_str("\nMajority-training zone (Theorem 2 along training): median fraction of training time in the adversarial zone ⟨∇L, ∇L1⟩ ≤ 0, and the runs with a minority initial drop (the minority's loss rose while the global loss fell).\n\n| architecture |");
            for &z in &zetas {
                out.push_str(&format!(" **{}** |", format_fraction_pct(z)));
            }
            out.push_str("\n| :-- |");
            out.push_str(&" --: |".repeat(zetas.len()));
            out.push('\n');
            for arch in self.archs() {
                out.push_str(&format!("| {} |", arch.row_label().replace('|', "\\|")));
                for &z in &zetas {
                    let text = match self.zone(&arch.name, z) {
                        Some(c) => format!(
                            "{} (drop {}/{})",
                            c.adversarial_time_fraction
                                .map(|f| format!("{:.1} %", 100.0 * f))
                                .unwrap_or_else(|| "–".into()),
                            c.minority_drops,
                            c.runs
                        ),
                        None => "–".into(),
                    };
                    out.push_str(&format!(" {text} |"));
                }
                out.push('\n');
            }
        }
        out
    }

    /// LaTeX with booktabs (`\toprule`, `\cmidrule`, `\midrule`, `\bottomrule`): a κ header row
    /// spanning its ζ columns over a ζ header row.
    pub fn to_latex(&self) -> String {
        let (kappas, zetas, rows) = self.grid();
        let nz = zetas.len();
        let mut out = String::new();
        let _ = writeln!(out, "% requires \\usepackage{{booktabs}}");
        let _ = writeln!(
            out,
            "\\begin{{tabular}}{{l{}}}",
            format!("@{{\\quad}}{}", "r".repeat(nz)).repeat(kappas.len())
        );
        let _ = writeln!(out, "\\toprule");
        let mut line = String::from(" ");
        for &k in &kappas {
            line.push_str(&format!(
                " & \\multicolumn{{{nz}}}{{c}}{{$\\kappa = {}$}}",
                latex_escape(&format_fraction_pct(k))
            ));
        }
        let _ = writeln!(out, "{line} \\\\");
        let rules: Vec<String> = (0..kappas.len())
            .map(|i| format!("\\cmidrule(lr){{{}-{}}}", 2 + i * nz, 1 + (i + 1) * nz))
            .collect();
        let _ = writeln!(out, "{}", rules.join(" "));
        let mut line = String::from("architecture");
        for _ in &kappas {
            for &z in &zetas {
                line.push_str(&format!(" & {}", latex_escape(&format_fraction_pct(z))));
            }
        }
        let _ = writeln!(out, "{line} \\\\");
        let _ = writeln!(out, "\\midrule");
        for (label, cells) in rows {
            let mut line = latex_escape(&label);
            for cell in cells {
                line.push_str(&format!(" & {}", latex_escape(&cell)));
            }
            let _ = writeln!(out, "{line} \\\\");
        }
        let _ = writeln!(out, "\\bottomrule");
        let _ = writeln!(out, "\\end{{tabular}}");
        out
    }

    /// Long-format CSV, one line per cell:
    /// `arch,params,kappa,zeta,median,min,max,censored,runs,undefined,q1,q3,median_lower_bound`.
    /// Numbers are plain (no `>`); empty when undefined; `median_lower_bound` says whether the
    /// median is only a lower bound. Rows in table order (architecture, κ, ζ).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("arch,params,kappa,zeta,median,min,max,censored,runs,undefined,q1,q3,median_lower_bound,zone_adversarial_time_fraction,minority_drops\n");
        let num = |e: Option<Estimate>| e.map(|e| e.value.to_string()).unwrap_or_default();
        let kappas = self.kappas();
        let zetas = self.zetas();
        for arch in self.archs() {
            for &k in &kappas {
                for &z in &zetas {
                    let Some(cell) = self.get(&arch.name, k, z) else {
                        continue;
                    };
                    let s = &cell.summary;
                    let zone = self.zone(&arch.name, z);
                    let _ = writeln!(
                        out,
                        "{},{},{k},{z},{},{},{},{},{},{},{},{},{},{},{}",
                        quote_field(&arch.name),
                        arch.params.map(|p| p.to_string()).unwrap_or_default(),
                        num(s.median),
                        num(s.min),
                        num(s.max),
                        s.censored,
                        s.runs,
                        s.undefined,
                        num(s.q1),
                        num(s.q3),
                        s.median
                            .map(|m| m.lower_bound.to_string())
                            .unwrap_or_default(),
                        zone.and_then(|c| c.adversarial_time_fraction)
                            .map(|f| f.to_string())
                            .unwrap_or_default(),
                        zone.map(|c| c.minority_drops.to_string())
                            .unwrap_or_default(),
                    );
                }
            }
        }
        out
    }
}

/// A row label and its cell texts.
type Row = (String, Vec<String>);

fn sorted_unique(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

/// Escapes text for LaTeX; `>` becomes `$>$`, the en dash `--`, κ `$\kappa$`.
fn latex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("\\%"),
            '&' => out.push_str("\\&"),
            '_' => out.push_str("\\_"),
            '#' => out.push_str("\\#"),
            '$' => out.push_str("\\$"),
            '{' => out.push_str("\\{"),
            '}' => out.push_str("\\}"),
            '>' => out.push_str("$>$"),
            '–' => out.push_str("--"),
            '-' => out.push_str("$-$"),
            'κ' => out.push_str("$\\kappa$"),
            ' ' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overcost::Overcost;

    fn summary(values: &[Overcost]) -> OvercostSummary {
        OvercostSummary::new(values)
    }

    fn table() -> OvercostTable {
        let v = |pct| Overcost::Value { pct };
        let c = |pct| Overcost::LowerBound { pct };
        let resnet = ArchLabel {
            name: "resnet18".into(),
            params: Some(11_173_962),
        };
        let mlp = ArchLabel {
            name: "mlp".into(),
            params: Some(543_210),
        };
        let mut t = OvercostTable::new();
        for (k, z, s) in [
            (0.9, 0.8, summary(&[v(1.0), v(3.0)])),
            (0.9, 0.01, summary(&[v(150.0), v(250.0), c(400.0)])),
            (0.99, 0.01, summary(&[c(900.0), c(800.0)])),
            (0.99, 0.8, summary(&[v(5.0)])),
        ] {
            t.insert(resnet.clone(), k, z, s).unwrap();
        }
        t.insert(mlp, 0.9, 0.01, summary(&[v(-20.0)])).unwrap();
        t
    }

    #[test]
    fn labels_and_headers() {
        assert_eq!(format_params(11_173_962), "11.2M");
        assert_eq!(format_params(543_000), "543K");
        assert_eq!(format_params(9_000_000), "9M");
        assert_eq!(format_params(999), "999");
        assert_eq!(format_fraction_pct(0.01), "1 %");
        assert_eq!(format_fraction_pct(0.1), "10 %");
        assert_eq!(format_fraction_pct(0.3), "30 %");
        assert_eq!(format_fraction_pct(0.005), "0.5 %");
        assert_eq!(format_fraction_pct(0.99), "99 %");
    }

    #[test]
    fn layout_rows_arch_columns_kappa_then_zeta() {
        let mut t = table();
        assert_eq!(t.kappas(), [0.9, 0.99]);
        assert_eq!(t.zetas(), [0.01, 0.8]);
        let md = t.to_markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "| architecture | κ = 90 % | | κ = 99 % | |");
        assert_eq!(lines[2], "| | **1 %** | **80 %** | **1 %** | **80 %** |");
        assert_eq!(lines[3], "| resnet18 (11.2M) | 250 [150–>400] (1/3 censored) | 2.0 [1.0–3.0] | >850 [>800–>900] (2/2 censored) | 5.0 |");
        assert_eq!(lines[4], "| mlp (543K) | -20 | – | – | – |");

        let csv = t.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(
            lines[1],
            "resnet18,11173962,0.9,0.01,250,150,400,1,3,0,200,325,false,,"
        );
        assert_eq!(
            lines[3],
            "resnet18,11173962,0.99,0.01,850,800,900,2,2,0,825,875,true,,"
        );
        assert_eq!(
            lines[5],
            "mlp,543210,0.9,0.01,-20,-20,-20,0,1,0,-20,-20,false,,"
        );
        // zone statistics: two more CSV columns and a second Markdown table
        t.set_zone(ZoneCell {
            arch: "resnet18".into(),
            zeta: 0.01,
            adversarial_time_fraction: Some(0.125),
            minority_drops: 2,
            runs: 3,
        });
        let csv = t.to_csv();
        assert!(
            csv.lines().nth(1).unwrap().ends_with(",false,0.125,2"),
            "{csv}"
        );
        let md = t.to_markdown();
        assert!(
            md.contains("| resnet18 (11.2M) | 12.5 % (drop 2/3) | – |"),
            "{md}"
        );

        let tex = t.to_latex();
        assert!(
            tex.contains("\\multicolumn{2}{c}{$\\kappa = 90 \\%$}"),
            "{tex}"
        );
        assert!(
            tex.contains("\\cmidrule(lr){2-3} \\cmidrule(lr){4-5}"),
            "{tex}"
        );
        assert!(
            tex.contains("resnet18 (11.2M) & 250 [150--$>$400] (1/3 censored)"),
            "{tex}"
        );
        assert!(tex.contains("\\toprule") && tex.contains("\\bottomrule"));

        let text = t.to_text();
        // one block per κ: title, header, rule, rows, all rows of a block aligned
        let blocks: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(blocks.len(), t.kappas().len(), "{text}");
        for block in &blocks {
            let widths: Vec<usize> = block.lines().skip(1).map(|l| l.chars().count()).collect();
            assert!(
                widths.windows(2).all(|w| w[0] == w[1]),
                "aligned rows: {text}"
            );
            assert!(widths.iter().all(|&w| w <= TEXT_WIDTH), "{text}");
        }
        assert!(blocks[0].starts_with("κ = 90 %\n"), "{text}");
        // too narrow for the ranges: medians alone, said in the title
        let narrow = t.to_text_width(30);
        assert!(
            narrow.contains("(medians; ranges in table.md)") && !narrow.contains('['),
            "{narrow}"
        );
        let empty = OvercostTable::new();
        assert_eq!(empty.to_csv().lines().count(), 1);
        assert!(empty.to_text().contains("architecture"));
        assert!(text.lines().nth(1).unwrap().contains("1 %"), "{text}");
        assert!(text.contains("resnet18 (11.2M)"));
        assert!(t
            .insert(
                ArchLabel {
                    name: "mlp".into(),
                    params: Some(543_210)
                },
                0.9,
                0.01,
                summary(&[])
            )
            .is_err());
        assert!(t
            .clone()
            .insert(
                ArchLabel {
                    name: "mlp".into(),
                    params: None
                },
                0.9,
                0.8,
                summary(&[])
            )
            .is_err());
    }
}
