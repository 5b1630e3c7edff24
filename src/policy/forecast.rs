//! [`LoadForecast`]: the service rate a stream's step would get over time, from forecast passes.

/// A forecast of the service rate one stream's step would get over time: a step function, rate
/// `rates[i]` (FLOP/s) on `[starts_s[i], starts_s[i + 1])`, the last rate forever after. Built by the
/// runner from a first pass of the same run (see [`super::OraclePolicy`]); queries allocate nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadForecast {
    /// Segment starts, seconds, strictly ascending, the first at most 0.
    starts_s: Vec<f64>,
    /// Rate of a step job in each segment, FLOP/s, each positive and finite.
    rates: Vec<f64>,
}

impl LoadForecast {
    /// A forecast from `(start_s, rate)` segments in time order (the first rate also holds before the
    /// first start). Consecutive segments with the same rate are merged, and a segment is replaced by a
    /// later one with the same start.
    ///
    /// # Panics
    /// If `segments` is empty, not in time order, or a rate is not positive and finite.
    pub fn from_segments(segments: impl IntoIterator<Item = (f64, f64)>) -> LoadForecast {
        let mut starts_s: Vec<f64> = Vec::new();
        let mut rates: Vec<f64> = Vec::new();
        for (start_s, rate) in segments {
            assert!(rate.is_finite() && rate > 0.0, "a forecast rate must be positive and finite, got {rate}");
            if let Some(&last) = starts_s.last() {
                assert!(start_s >= last, "forecast segments must be in time order ({start_s} after {last})");
                if start_s == last {
                    starts_s.pop();
                    rates.pop();
                }
            }
            if rates.last() != Some(&rate) {
                starts_s.push(start_s);
                rates.push(rate);
            }
        }
        assert!(!rates.is_empty(), "a forecast needs at least one segment");
        starts_s[0] = starts_s[0].min(0.0);
        LoadForecast { starts_s, rates }
    }

    /// Number of segments.
    pub fn segments(&self) -> usize {
        self.rates.len()
    }

    /// The segment holding time `t_s`, searched forward from `hint` (a segment at or before it; pass 0
    /// when unknown). Times before the first start belong to the first segment.
    pub fn segment_at(&self, t_s: f64, hint: usize) -> usize {
        let mut index = hint.min(self.rates.len() - 1);
        if self.starts_s[index] > t_s {
            index = 0;
        }
        while index + 1 < self.rates.len() && self.starts_s[index + 1] <= t_s {
            index += 1;
        }
        index
    }

    /// The forecast rate at `t_s`, FLOP/s.
    pub fn rate_at(&self, t_s: f64) -> f64 {
        self.rates[self.segment_at(t_s, 0)]
    }

    /// When a job of `flops` FLOPs started at `start_s` would finish if it were served at the forecast
    /// rate (integrating across segments), seconds; `hint` as for [`LoadForecast::segment_at`].
    pub fn finish_s(&self, start_s: f64, flops: f64, hint: usize) -> f64 {
        let mut index = self.segment_at(start_s, hint);
        let mut t = start_s;
        let mut left = flops;
        loop {
            let rate = self.rates[index];
            match self.starts_s.get(index + 1) {
                Some(&end) if (end - t) * rate < left => {
                    left -= (end - t) * rate;
                    t = end;
                    index += 1;
                }
                _ => return t + left / rate,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::oracle::tests::busy_window;

    #[test]
    fn forecast_integrates_across_segments() {
        let forecast = busy_window();
        assert_eq!(forecast.segments(), 3);
        assert_eq!(forecast.rate_at(0.5), 1e6);
        assert_eq!(forecast.rate_at(1.0), 0.25e6);
        assert_eq!(forecast.rate_at(7.0), 1e6);
        // 40 kFLOP from 0.99 s: 10 kFLOP by 1 s, 12.5 kFLOP by 1.05 s, the last 17.5 kFLOP by 1.0675 s.
        assert!((forecast.finish_s(0.99, 40_000.0, 0) - 1.0675).abs() < 1e-12);
        assert!((forecast.finish_s(0.99, 40_000.0, 2) - 1.0675).abs() < 1e-12, "a hint past the time is ignored");
        // Equal neighbours merge; a repeated start keeps the later rate.
        let merged = LoadForecast::from_segments([(0.0, 1.0), (1.0, 1.0), (2.0, 3.0), (2.0, 1.0)]);
        assert_eq!(merged.segments(), 1);
    }
}
