//! The same points in PostGIS, for comparison: a fresh database with an
//! unlogged table of `geometry(Point, 4326)` under a GiST index, loaded
//! with COPY, queried with `ST_Contains` and dropped afterwards. Absent
//! PostGIS (or PostgreSQL) is reported, not an error.

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use std::fmt::Write;
use std::time::Instant;
use tocsin_zones::GeoPoint;

use crate::stats::ms;

/// A loaded table of points in a database this process made.
#[derive(Debug)]
pub struct PostGis {
    pool: PgPool,
    admin_url: String,
    database: String,
    /// Time to COPY the points and build the GiST index.
    pub load_ms: f64,
}

/// Why PostGIS is not measured.
pub type Absent = String;

impl PostGis {
    /// Loads `points` into a new database next to `admin_url` (a database
    /// URL whose server may create databases).
    pub async fn load(
        admin_url: &str,
        points: &[GeoPoint],
    ) -> Result<Result<Self, Absent>, anyhow::Error> {
        let mut admin = match PgConnection::connect(admin_url).await {
            Ok(c) => c,
            Err(e) => {
                return Ok(Err(format!(
                    "PostgreSQL not reachable at the given URL: {e}"
                )));
            }
        };
        let database = format!("tocsin_bench_{}", std::process::id());
        admin
            .execute(format!("DROP DATABASE IF EXISTS {database}").as_str())
            .await?;
        admin
            .execute(format!("CREATE DATABASE {database}").as_str())
            .await?;
        let url = with_database(admin_url, &database);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await?;
        let mut me = Self {
            pool,
            admin_url: admin_url.to_owned(),
            database,
            load_ms: 0.0,
        };
        if let Err(e) = me.pool.execute("CREATE EXTENSION postgis").await {
            me.drop().await?;
            return Ok(Err(format!(
                "PostGIS is not installed ({e}); run scripts/bench-setup.sh"
            )));
        }
        let start = Instant::now();
        me.copy(points).await.context("loading the points")?;
        me.load_ms = ms(start.elapsed());
        Ok(Ok(me))
    }

    async fn copy(&self, points: &[GeoPoint]) -> anyhow::Result<()> {
        self.pool
            .execute("CREATE UNLOGGED TABLE pts (id integer NOT NULL, geom geometry(Point, 4326) NOT NULL)")
            .await?;
        let mut conn = self.pool.acquire().await?;
        let mut copy = conn.copy_in_raw("COPY pts (id, geom) FROM STDIN").await?;
        let mut buf = String::new();
        for (i, p) in points.iter().enumerate() {
            let _ = writeln!(buf, "{i}\tSRID=4326;POINT({} {})", p.lon(), p.lat());
            if buf.len() > 1 << 20 {
                copy.send(buf.as_bytes()).await?;
                buf.clear();
            }
        }
        copy.send(buf.as_bytes()).await?;
        copy.finish().await?;
        drop(conn);
        self.pool
            .execute("CREATE INDEX ON pts USING gist (geom)")
            .await?;
        self.pool.execute("ANALYZE pts").await?;
        Ok(())
    }

    /// Residents inside the polygon, counted by the server, and the time.
    pub async fn count_inside(&self, wkt: &str) -> anyhow::Result<(i64, f64)> {
        let start = Instant::now();
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pts WHERE ST_Contains(ST_GeomFromText($1, 4326), geom)",
        )
        .bind(wkt)
        .fetch_one(&self.pool)
        .await?;
        Ok((n, ms(start.elapsed())))
    }

    /// Removes the database.
    pub async fn drop(self) -> anyhow::Result<()> {
        self.pool.close().await;
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database).as_str())
            .await?;
        Ok(())
    }

    /// "PostgreSQL 15.x, PostGIS 3.y" for the report.
    pub async fn versions(&self) -> String {
        sqlx::query_scalar::<_, String>(
            "SELECT split_part(version(), ' ', 2) || ', PostGIS ' || postgis_lib_version()",
        )
        .fetch_one(&self.pool)
        .await
        .map(|v| format!("PostgreSQL {v}"))
        .unwrap_or_else(|_| "unknown".to_owned())
    }
}

/// `postgres://u@h:p/db?x` with the database replaced.
fn with_database(url: &str, database: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map_or((url, None), |(h, q)| (h, Some(q)));
    let base = match head.rfind('/') {
        Some(i) if i > "postgres://".len() => &head[..i],
        _ => head,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_swapped_in_the_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database(
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
                "b"
            ),
            "postgres://postgres@127.0.0.1:5432/b?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "b"), "postgres://h/b");
    }
}
