//! What a stage instance asks of a cluster: `resources: {cpus: 4, mem: 16G, time: 2h,
//! gpus: 1, partition: gpu, account: lab, qos: normal, extra: [...]}`. Given per stage,
//! as pipeline-wide defaults, or with `pipe run --resource`. Not part of the key: where
//! an artifact was computed does not change what it is.

use serde::{Deserialize, Deserializer, Serialize};

use crate::Error;

/// Every field is optional; an unset field falls back to the next layer of defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, deserialize_with = "cpus")]
    pub cpus: Option<u32>,
    /// Slurm's form: megabytes, or a number with K, M, G or T.
    #[serde(default, deserialize_with = "mem")]
    pub mem: Option<String>,
    /// Wall-clock limit in seconds (written `2h`, `1h30m`, `90m`, `45s`, `1d`, `HH:MM:SS`, `D-HH:MM:SS`).
    #[serde(default, deserialize_with = "time")]
    pub time: Option<u64>,
    /// A count, or `type:count` (`a100:2`).
    #[serde(default, deserialize_with = "gpus")]
    pub gpus: Option<String>,
    #[serde(default, deserialize_with = "name")]
    pub partition: Option<String>,
    #[serde(default, deserialize_with = "name")]
    pub account: Option<String>,
    #[serde(default, deserialize_with = "name")]
    pub qos: Option<String>,
    /// Further sbatch options, passed as given (`--constraint=avx512`).
    #[serde(default, deserialize_with = "options")]
    pub extra: Option<Vec<String>>,
}

impl Resources {
    /// `self`, with each unset field taken from `fallback`.
    pub fn or(&self, fallback: &Resources) -> Resources {
        Resources {
            cpus: self.cpus.or(fallback.cpus),
            mem: self.mem.clone().or_else(|| fallback.mem.clone()),
            time: self.time.or(fallback.time),
            gpus: self.gpus.clone().or_else(|| fallback.gpus.clone()),
            partition: self.partition.clone().or_else(|| fallback.partition.clone()),
            account: self.account.clone().or_else(|| fallback.account.clone()),
            qos: self.qos.clone().or_else(|| fallback.qos.clone()),
            extra: self.extra.clone().or_else(|| fallback.extra.clone()),
        }
    }

    /// `--resource KEY=VALUE` arguments (VALUE is YAML, as for `--set`), checked like the file's.
    pub fn from_args(args: &[String]) -> Result<Resources, Error> {
        let mut map = serde_yaml_ng::Mapping::new();
        for arg in args {
            let (key, value) = arg.split_once('=').ok_or_else(|| {
                Error::Config(format!("--resource {arg}: expected KEY=VALUE, e.g. --resource cpus=4"))
            })?;
            let value: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(value).map_err(|e| Error::Config(format!("--resource {arg}: {e}")))?;
            map.insert(key.trim().into(), value);
        }
        serde_yaml_ng::from_value(serde_yaml_ng::Value::Mapping(map))
            .map_err(|e| Error::Config(format!("--resource: {}", crate::suggest::explain(&e.to_string()))))
    }

    /// The sbatch options these resources translate to.
    pub fn sbatch_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut push = |flag: &str, value: &Option<String>| {
            if let Some(v) = value {
                args.push(format!("--{flag}={v}"));
            }
        };
        push("cpus-per-task", &self.cpus.map(|c| c.to_string()));
        push("mem", &self.mem);
        push("time", &self.time.map(slurm_time));
        push("gpus", &self.gpus);
        push("partition", &self.partition);
        push("account", &self.account);
        push("qos", &self.qos);
        args.extend(self.extra.iter().flatten().cloned());
        args
    }
}

/// A YAML scalar as text: `16G`, `2048` and `2h` may come as strings or numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Int(u64),
    Text(String),
}

impl Scalar {
    fn text(self) -> String {
        match self {
            Scalar::Int(n) => n.to_string(),
            Scalar::Text(s) => s.trim().to_string(),
        }
    }
}

fn checked<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, D::Error> {
    let text = Scalar::deserialize(d).map_err(|_| serde::de::Error::custom(format!("expected {expected}")))?.text();
    parse(&text).map(Some).ok_or_else(|| serde::de::Error::custom(format!("expected {expected}, got `{text}`")))
}

fn cpus<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    checked(d, |s| s.parse::<u32>().ok().filter(|&n| n > 0), "a positive number of CPUs")
}

fn mem<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, parse_mem, "a size such as 16G, 512M or 2048 (megabytes)")
}

fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    checked(d, parse_time, "a time limit such as 2h, 1h30m, 90m, 1d or 1-12:00:00")
}

fn gpus<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, parse_gpus, "a GPU count or TYPE:COUNT (a100:2)")
}

fn name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, |s| (!s.is_empty() && !s.contains(char::is_whitespace)).then(|| s.to_string()), "a name")
}

/// sbatch options, each starting with `-` (a bare word would be read as the job script);
/// one may come alone (`--resource extra=--exclusive`).
fn options<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Options {
        Many(Vec<Scalar>),
        One(Scalar),
    }
    let options: Vec<String> = match Options::deserialize(d)
        .map_err(|_| serde::de::Error::custom("expected a list of sbatch options, e.g. [--constraint=avx512]"))?
    {
        Options::Many(list) => list.into_iter().map(Scalar::text).collect(),
        Options::One(one) => vec![one.text()],
    };
    match options.iter().find(|o| !o.starts_with('-')) {
        Some(o) => Err(serde::de::Error::custom(format!("`{o}` is no sbatch option (those start with `-`)"))),
        None => Ok(Some(options)),
    }
}

fn parse_mem(s: &str) -> Option<String> {
    let upper = s.to_ascii_uppercase();
    let digits = upper.strip_suffix(['K', 'M', 'G', 'T']).unwrap_or(&upper);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && digits.parse::<u64>().ok()? > 0)
        .then_some(upper)
}

/// Seconds in `2h`, `1h30m`, `90m`, `45s`, `1d`, a bare number of minutes (Slurm's
/// reading), `MM:SS`, `HH:MM:SS` or `D-HH[:MM[:SS]]`.
fn parse_time(s: &str) -> Option<u64> {
    let number =
        |t: &str| (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse::<u64>().ok()).flatten();
    let total = if let Some(minutes) = number(s) {
        minutes * 60
    } else if s.contains([':', '-']) {
        let (days, clock) = match s.split_once('-') {
            Some((d, rest)) => (number(d)?, rest),
            None => (0, s),
        };
        let fields: Vec<u64> = clock.split(':').map(number).collect::<Option<_>>()?;
        let (h, m, sec) = match (s.contains('-'), fields.as_slice()) {
            (true, [h]) => (*h, 0, 0),
            (true, [h, m]) => (*h, *m, 0),
            (_, [h, m, sec]) => (*h, *m, *sec),
            (false, [m, sec]) => (0, *m, *sec),
            _ => return None,
        };
        // Slurm would carry `99:99:99` over into days; a clock reading that no clock shows is a typo.
        if m >= 60 || sec >= 60 || (s.contains('-') && h >= 24) {
            return None;
        }
        days * 86_400 + h * 3600 + m * 60 + sec
    } else {
        let mut total = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let end = rest.find(|c: char| !c.is_ascii_digit())?;
            let unit = match rest[end..].chars().next()? {
                'd' => 86_400,
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => return None,
            };
            total += number(&rest[..end])? * unit;
            rest = &rest[end + 1..];
        }
        total
    };
    (total > 0).then_some(total)
}

fn parse_gpus(s: &str) -> Option<String> {
    let (kind, count) = s.rsplit_once(':').map_or(("x", s), |(k, c)| (k, c));
    let valid_kind = !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (valid_kind && count.parse::<u32>().ok()? > 0).then(|| s.to_string())
}

/// `D-HH:MM:SS`, which every Slurm version reads; whole minutes are not enough for `45s`.
fn slurm_time(seconds: u64) -> String {
    let (d, rest) = (seconds / 86_400, seconds % 86_400);
    format!("{d}-{:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Resources, String> {
        serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn times_in_every_accepted_form() {
        let cases = [
            ("2h", 7200),
            ("1h30m", 5400),
            ("90m", 5400),
            ("45s", 45),
            ("1d", 86_400),
            ("30", 1800),
            ("05:30", 330),
            ("01:02:03", 3723),
            ("1-12", 129_600),
            ("1-12:30", 131_400),
            ("2-00:00:01", 172_801),
        ];
        for (text, seconds) in cases {
            assert_eq!(parse_time(text), Some(seconds), "{text}");
        }
        for bad in ["", "2x", "h", "1:2:3:4", "0", "-1", "1h-", "2 h", "99:99:99", "1:60", "1-24:00:00"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(slurm_time(131_445), "1-12:30:45");
    }

    #[test]
    fn sizes_and_gpus() {
        assert_eq!(parse_mem("16g").as_deref(), Some("16G"));
        assert_eq!(parse_mem("2048").as_deref(), Some("2048"));
        for bad in ["16GB", "G", "0", "1.5G", "-4G"] {
            assert_eq!(parse_mem(bad), None, "{bad}");
        }
        assert_eq!(parse_gpus("a100:2").as_deref(), Some("a100:2"));
        assert_eq!(parse_gpus("1").as_deref(), Some("1"));
        assert_eq!(parse_gpus("0"), None);
        assert_eq!(parse_gpus("a 100:1"), None);
        assert_eq!(parse_gpus(":2"), None);
    }

    #[test]
    fn yaml_becomes_sbatch_options_and_layers_fall_back() {
        let r =
            parse("{cpus: 4, mem: 16G, time: 2h, gpus: 1, partition: gpu, extra: ['--constraint=avx512']}").unwrap();
        assert_eq!(
            r.sbatch_args(),
            [
                "--cpus-per-task=4",
                "--mem=16G",
                "--time=0-02:00:00",
                "--gpus=1",
                "--partition=gpu",
                "--constraint=avx512"
            ]
        );
        let defaults = parse("{cpus: 1, account: lab}").unwrap();
        let merged = parse("{cpus: 8}").unwrap().or(&defaults);
        assert_eq!(merged.sbatch_args(), ["--cpus-per-task=8", "--account=lab"]);
    }

    #[test]
    fn malformed_values_and_unknown_keys_are_errors() {
        assert!(parse("{mem: 16 GB}").unwrap_err().contains("expected a size such as 16G"));
        assert!(parse("{time: soon}").unwrap_err().contains("got `soon`"));
        assert!(parse("{cpus: 0}").unwrap_err().contains("a positive number of CPUs"));
        assert!(parse("{cpu: 2}").unwrap_err().contains("unknown field `cpu`"));
        assert!(parse("{partition: ''}").unwrap_err().contains("expected a name"));
        assert!(parse("{extra: [5]}").unwrap_err().contains("`5` is no sbatch option (those start with `-`)"));
        let one = Resources::from_args(&["extra=--exclusive".into()]).unwrap();
        assert_eq!(one.sbatch_args(), ["--exclusive"]);
        let args = Resources::from_args(&["cpus=2".into(), "time=30m".into()]).unwrap();
        assert_eq!(args.sbatch_args(), ["--cpus-per-task=2", "--time=0-00:30:00"]);
        assert!(Resources::from_args(&["mem".into()]).unwrap_err().to_string().contains("expected KEY=VALUE"));
    }
}
