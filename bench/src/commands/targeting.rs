//! `tocsin-bench targeting`: generate the city, load Tocsin's index and
//! (when reachable) PostGIS with the same points, time each polygon case,
//! print a markdown table.

use tocsin_bench::postgis::PostGis;
use tocsin_bench::stats::{median, timed};
use tocsin_bench::{city, targeting};

use super::{bar, spinner};

pub async fn run(residents: usize, seed: u64, runs: usize, postgres: &str) -> anyhow::Result<()> {
    let making = bar(residents as u64, "generating residents");
    let c = city::generate(residents, seed, |i| making.set_position(i));
    making.finish();
    let (index, index_ms) = timed(|| targeting::index(&c.residents));
    let cases = targeting::cases(&c.residents, seed);
    let pg = if postgres == "none" {
        Err("skipped (--postgres none)".to_owned())
    } else {
        let load = spinner("loading PostGIS (COPY + GiST)");
        let pg = PostGis::load(postgres, &c.residents).await?;
        load.finish_and_clear();
        pg
    };
    let versions = match &pg {
        Ok(p) => p.versions().await,
        Err(why) => format!("PostGIS absent: {why}"),
    };
    let progress = bar((cases.len() * (runs + 1)) as u64, "timing queries");
    let mut rows = Vec::new();
    for case in &cases {
        let mut tocsin = Vec::new();
        let mut postgis = Vec::new();
        let mut found = 0;
        let mut pg_found = None;
        for run in 0..=runs {
            let (ids, t) = timed(|| index.query(&case.area));
            found = ids.len();
            let pg_t = match &pg {
                Ok(p) => {
                    let (n, t) = p.count_inside(&targeting::wkt(&case.ring)).await?;
                    pg_found = Some(n);
                    Some(t)
                }
                Err(_) => None,
            };
            if run > 0 {
                tocsin.push(t);
                postgis.extend(pg_t);
            }
            progress.inc(1);
        }
        rows.push((
            case,
            found,
            pg_found,
            median(tocsin),
            (!postgis.is_empty()).then(|| median(postgis)),
        ));
    }
    progress.finish_and_clear();
    println!(
        "\nTargeting, {residents} residents, seed {seed}, median of {runs} runs after a warm-up"
    );
    println!("Tocsin index built in {index_ms:.0} ms; {versions}");
    if let Ok(p) = &pg {
        println!("PostGIS table loaded and indexed in {:.0} ms", p.load_ms);
    }
    println!("\n| polygon | residents inside | Tocsin ms | PostGIS ms | PostGIS / Tocsin |");
    println!("|---|---|---|---|---|");
    for (case, found, pg_found, t, pg_t) in &rows {
        let share = *found as f64 / residents as f64 * 100.0;
        let (pg_cell, ratio) = match pg_t {
            Some(p) => (format!("{p:.1}"), format!("{:.1}×", p / t)),
            None => ("–".to_owned(), "–".to_owned()),
        };
        println!(
            "| {} vertices, ~{:.0} % | {found} ({share:.1} %) | {t:.1} | {pg_cell} | {ratio} |",
            case.vertices,
            case.share * 100.0
        );
        if let Some(n) = pg_found
            && *n != *found as i64
        {
            // Points exactly on an edge may count differently; more is a bug.
            println!("  note: PostGIS counted {n}, Tocsin {found}");
        }
    }
    if let Ok(p) = pg {
        p.drop().await?;
    }
    Ok(())
}
