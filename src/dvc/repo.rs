//! The DVC repository around a `dvc.yaml`: its root (the nearest directory up with a
//! `.dvc/`), which DVC gives commands as `$DVC_ROOT`, and the `[parsing]` settings of
//! its `.dvc/config` (and `config.local`), which say how `${dict}` unpacks in `cmd`.

use std::path::{Component, Path};

/// How a mapping interpolated into `cmd` becomes flags (`core.parsing` in DVC's config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unpack {
    /// `bool = boolean_optional`: `false` gives `--no-key` instead of nothing.
    pub no_flags: bool,
    /// `list = append`: `--key a --key b` instead of `--key a b`.
    pub append: bool,
}

#[derive(Debug, Default)]
pub struct Repo {
    /// From the `dvc.yaml` directory up to the root (`../..`); empty when they are one.
    pub up: String,
    /// The `dvc.yaml` from the root (`sub/dvc.yaml`), as DVC names a stage outside the root's.
    pub file: String,
    pub unpack: Unpack,
}

impl Repo {
    /// The repository of the `dvc.yaml` named `file_name` in `dir`; without a `.dvc/` above
    /// it (a project DVC never initialised), `dir` stands for the root.
    pub fn find(dir: &Path, file_name: &str) -> Repo {
        let root = dir.ancestors().find(|a| a.join(".dvc").is_dir());
        let Some(root) = root else { return Repo { file: file_name.to_string(), ..Repo::default() } };
        let below = dir.strip_prefix(root).unwrap_or(Path::new(""));
        let depth = below.components().filter(|c| matches!(c, Component::Normal(_))).count();
        let config =
            [".dvc/config", ".dvc/config.local"].map(|f| std::fs::read_to_string(root.join(f)).unwrap_or_default());
        Repo {
            up: vec![".."; depth].join("/"),
            file: below.join(file_name).to_string_lossy().into_owned(),
            unpack: config.iter().fold(Unpack::default(), |unpack, text| parsing(text, unpack)),
        }
    }

    /// How DVC addresses a stage in `$DVC_STAGE` and its messages: `train`, or
    /// `sub/dvc.yaml:train` for a `dvc.yaml` below the root.
    pub fn address(&self, stage: &str) -> String {
        if self.file == "dvc.yaml" {
            stage.to_string()
        } else {
            format!("{}:{stage}", self.file)
        }
    }
}

/// `unpack` with the `[parsing]` settings of one DVC config file (INI) applied.
fn parsing(text: &str, mut unpack: Unpack) -> Unpack {
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim_matches(['\'', '"', ' ']).to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        match (section.as_str(), key.trim(), value.trim()) {
            ("parsing", "bool", value) => unpack.no_flags = value == "boolean_optional",
            ("parsing", "list", value) => unpack.append = value == "append",
            _ => {}
        }
    }
    unpack
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_nearest_directory_with_dvc_and_its_config_sets_the_unpacking() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".dvc")).unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(
            dir.path().join(".dvc/config"),
            "[core]\n    remote = s\n[parsing]\n    bool = boolean_optional\n    list = append\n",
        )
        .unwrap();
        std::fs::write(dir.path().join(".dvc/config.local"), "[parsing]\nlist = nargs\n").unwrap();
        let repo = Repo::find(&dir.path().join("a/b"), "dvc.yaml");
        assert_eq!((repo.up.as_str(), repo.file.as_str()), ("../..", "a/b/dvc.yaml"));
        assert_eq!(repo.unpack, Unpack { no_flags: true, append: false });
        assert_eq!(repo.address("train"), "a/b/dvc.yaml:train");
        let top = Repo::find(dir.path(), "dvc.yaml");
        assert_eq!((top.up.as_str(), top.address("train").as_str()), ("", "train"));
        let bare = tempfile::tempdir().unwrap();
        let none = Repo::find(bare.path(), "dvc.yml");
        assert_eq!((none.up.as_str(), none.address("t").as_str(), none.unpack), ("", "dvc.yml:t", Unpack::default()));
    }
}
