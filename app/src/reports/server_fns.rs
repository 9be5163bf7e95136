//! Owner reports: client rejections over a period. Owner staff only (403), their instance only.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Days shown when no period is chosen (ending today).
pub const DEFAULT_DAYS: u64 = 30;

/// Leads received in the period, by campaign or supplier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupLine {
    pub name: String,
    pub delivered: i64,
    pub client_rejected: i64,
}

impl GroupLine {
    /// Client rejected ÷ delivered, as a percentage with one decimal.
    pub fn rate(&self) -> String {
        if self.delivered == 0 {
            return "–".to_owned();
        }
        format!("{:.1}%", self.client_rejected as f64 * 100.0 / self.delivered as f64)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRejectionReport {
    /// The period, `YYYY-MM-DD`, both ends included.
    pub from: String,
    pub to: String,
    pub by_campaign: Vec<GroupLine>,
    pub by_supplier: Vec<GroupLine>,
    /// (reason, client rejected leads), most first.
    pub by_reason: Vec<(String, i64)>,
    /// (day, client rejections made that day).
    pub per_day: Vec<(String, i64)>,
    /// The per-day chart, drawn on the server.
    pub chart_svg: String,
}

/// The report for `from`–`to` (`YYYY-MM-DD`; empty: the last 30 days).
#[server(endpoint = "rejection_report")]
pub async fn rejection_report(from: String, to: String) -> Result<ClientRejectionReport, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let owner = crate::auth::access::require_owner().await?;
        let period = ssr::period(&from, &to, state.clock.now().date())?;
        let instance = owner.instance_id;
        Ok(state.db(move |conn| ssr::report(conn, instance, period)).await?)
    })
    .await
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use chrono::{Days, NaiveDate};

    use super::{ClientRejectionReport, DEFAULT_DAYS, GroupLine};
    use crate::db::reports::{self, Period};
    use crate::db::{DbConn, DbError};
    use crate::error::AppError;

    /// The chosen period; `Invalid` for a malformed or reversed one.
    pub fn period(from: &str, to: &str, today: NaiveDate) -> Result<Period, AppError> {
        let to = AppError::date_field("to", to)?.unwrap_or(today);
        let from = AppError::date_field("from", from)?
            .unwrap_or_else(|| to.checked_sub_days(Days::new(DEFAULT_DAYS - 1)).unwrap_or(to));
        if from > to {
            return Err(AppError::invalid("from", "The period starts after it ends."));
        }
        Ok(Period { from, to })
    }

    pub fn report(
        conn: &mut DbConn,
        instance_id: i64,
        period: Period,
    ) -> Result<ClientRejectionReport, DbError> {
        let group = |rows: Vec<reports::GroupRow>| -> Vec<GroupLine> {
            rows.into_iter()
                .map(|r| GroupLine {
                    name: r.name,
                    delivered: r.delivered,
                    client_rejected: r.client_rejected,
                })
                .collect()
        };
        let per_day: Vec<(String, i64)> =
            reports::per_day(conn, instance_id, period)?.into_iter().map(|r| (r.name, r.n)).collect();
        Ok(ClientRejectionReport {
            from: period.from.to_string(),
            to: period.to.to_string(),
            by_campaign: group(reports::by_campaign(conn, instance_id, period)?),
            by_supplier: group(reports::by_supplier(conn, instance_id, period)?),
            by_reason: reports::by_reason(conn, instance_id, period)?
                .into_iter()
                .map(|r| (r.name, r.n))
                .collect(),
            chart_svg: chart(period, &per_day),
            per_day,
        })
    }

    /// A bar chart of client rejections per day of the period, as SVG text (no script, no
    /// chart library in the browser bundle).
    pub fn chart(period: Period, per_day: &[(String, i64)]) -> String {
        let days: Vec<NaiveDate> =
            period.from.iter_days().take_while(|d| *d <= period.to).take(366).collect();
        let count = |d: &NaiveDate| {
            let key = d.to_string();
            per_day.iter().find(|(day, _)| *day == key).map_or(0, |(_, n)| *n)
        };
        let max = days.iter().map(count).max().unwrap_or(0).max(1);
        let (w, h, left, bottom) = (720.0_f64, 220.0_f64, 48.0_f64, 28.0_f64);
        let plot_w = w - left - 8.0;
        let plot_h = h - bottom - 12.0;
        let bar = plot_w / days.len().max(1) as f64;
        let total: i64 = days.iter().map(count).sum();
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" \
             aria-labelledby=\"chart-title\"><title id=\"chart-title\">Client rejections per day, {} to {}: {total} in all</title>",
            period.from, period.to
        );
        svg.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#8a94a3\"/>\
             <text x=\"{tx}\" y=\"16\" font-size=\"11\" text-anchor=\"end\" fill=\"#5a6472\">{max}</text>\
             <text x=\"{tx}\" y=\"{y}\" font-size=\"11\" text-anchor=\"end\" fill=\"#5a6472\">0</text>",
            y = 12.0 + plot_h,
            x2 = w - 8.0,
            tx = left - 6.0,
        ));
        for (i, day) in days.iter().enumerate() {
            let n = count(day);
            let bh = plot_h * n as f64 / max as f64;
            let x = left + i as f64 * bar;
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#0b5cad\"><title>{day}: {n}</title></rect>",
                12.0 + plot_h - bh,
                (bar - 1.0).max(1.0),
            ));
        }
        for label in day_labels(days.len(), left, plot_w) {
            let Some(day) = days.get(label.index) else { continue };
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"{}\" fill=\"#5a6472\">{}</text>",
                label.x,
                h - 8.0,
                label.anchor,
                day.format("%d %b"),
            ));
        }
        svg.push_str("</svg>");
        svg
    }

    /// Room a date label ("30 Nov" at 11 px) takes, with a gap to the next.
    const LABEL_WIDTH: f64 = 44.0;

    /// A date label under the chart: the day's index, where it stands and how it is anchored.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct DayLabel {
        pub index: usize,
        pub x: f64,
        /// SVG `text-anchor`: `start`, `middle` or `end`.
        pub anchor: &'static str,
    }

    impl DayLabel {
        /// The part of the axis its text covers.
        pub fn span(&self) -> (f64, f64) {
            match self.anchor {
                "start" => (self.x, self.x + LABEL_WIDTH),
                "end" => (self.x - LABEL_WIDTH, self.x),
                _ => (self.x - LABEL_WIDTH / 2.0, self.x + LABEL_WIDTH / 2.0),
            }
        }
    }

    /// The labels of `days` bars filling `width` from `left`: the first day (anchored at the
    /// plot's start), the last (anchored at its end, so it stays inside the chart) and, between,
    /// every week on long periods or every day that fits on short ones — skipping any that would
    /// touch a neighbour, so two dates never run together.
    pub fn day_labels(days: usize, left: f64, width: f64) -> Vec<DayLabel> {
        let bar = width / days.max(1) as f64;
        match days {
            0 => return Vec::new(),
            1 => return vec![DayLabel { index: 0, x: left + bar / 2.0, anchor: "middle" }],
            _ => {}
        }
        let last = DayLabel { index: days - 1, x: left + width, anchor: "end" };
        let fit = (LABEL_WIDTH / bar).ceil().max(1.0) as usize;
        let step = if days > 10 { fit.div_ceil(7) * 7 } else { fit };
        let mut labels = vec![DayLabel { index: 0, x: left, anchor: "start" }];
        for index in (step..days - 1).step_by(step) {
            let label = DayLabel { index, x: left + (index as f64 + 0.5) * bar, anchor: "middle" };
            let clear_of_previous = labels.last().is_none_or(|p| p.span().1 <= label.span().0);
            if clear_of_previous && label.span().1 <= last.span().0 {
                labels.push(label);
            }
        }
        if labels.last().is_none_or(|p| p.span().1 <= last.span().0) {
            labels.push(last);
        }
        labels
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn d(s: &str) -> NaiveDate {
            s.parse().expect("date")
        }

        #[test]
        fn periods_default_to_the_last_30_days_and_refuse_reversed_ones() {
            let today = d("2026-11-26");
            assert_eq!(period("", "", today), Ok(Period { from: d("2026-10-28"), to: today }));
            assert_eq!(
                period("2026-11-01", "2026-11-02", today),
                Ok(Period { from: d("2026-11-01"), to: d("2026-11-02") })
            );
            assert!(period("2026-11-03", "2026-11-02", today).is_err());
            assert!(period("yesterday", "", today).is_err());
        }

        #[test]
        fn the_chart_has_a_bar_per_day_and_says_the_total() {
            let p = Period { from: d("2026-11-20"), to: d("2026-11-26") };
            let svg = chart(p, &[("2026-11-21".into(), 4), ("2026-11-26".into(), 2)]);
            assert_eq!(svg.matches("<rect").count(), 7);
            assert!(svg.contains("2026-11-21: 4"));
            assert!(svg.contains("6 in all"));
            assert!(!svg.contains("<script"));
        }

        #[test]
        fn date_labels_never_overlap_and_keep_both_ends() {
            let (left, width) = (48.0, 664.0);
            for days in 2..=366 {
                let labels = day_labels(days, left, width);
                assert_eq!(labels.first().map(|l| l.index), Some(0), "{days} days");
                assert_eq!(labels.last().map(|l| l.index), Some(days - 1), "{days} days");
                for pair in labels.windows(2) {
                    assert!(pair[0].span().1 <= pair[1].span().0, "{days} days: {pair:?}");
                }
                assert!(
                    labels.iter().all(|l| l.span().0 >= left && l.span().1 <= left + width),
                    "{days} days"
                );
            }
            assert_eq!(day_labels(1, left, width).len(), 1);
            assert!(day_labels(0, left, width).is_empty());
        }

        #[test]
        fn a_month_is_labelled_weekly_without_the_day_before_the_last() {
            // 30 days: the 29th day's weekly label would touch the 30th's ("29 Nov30 Nov").
            let indices: Vec<usize> = day_labels(30, 48.0, 664.0).iter().map(|l| l.index).collect();
            assert_eq!(indices, [0, 7, 14, 21, 29]);
            let svg = chart(Period { from: d("2026-11-01"), to: d("2026-11-30") }, &[]);
            assert!(svg.contains("text-anchor=\"end\" fill=\"#5a6472\">30 Nov</text>"), "{svg}");
            assert!(!svg.contains(">29 Nov</text>"));
            // A week has a label a day.
            assert_eq!(day_labels(7, 48.0, 664.0).len(), 7);
        }
    }
}
