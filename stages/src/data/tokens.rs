//! Ragged token ids of one split as safetensors: `ids` (u32, all sentences
//! concatenated), `offsets` (i64, n + 1 prefix sums) and `labels` (i64, -1 when
//! unlabelled). Row i is the i-th example of the split's JSONL file.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use crate::StageError;

#[derive(Debug, Clone, PartialEq)]
pub struct TokenizedSplit {
    pub ids: Vec<Vec<u32>>,
    pub labels: Vec<i64>,
}

impl TokenizedSplit {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn write(&self, path: &Path) -> Result<(), StageError> {
        let flat: Vec<u8> = self.ids.iter().flatten().flat_map(|t| t.to_le_bytes()).collect();
        let mut offsets = vec![0i64];
        for ids in &self.ids {
            offsets.push(offsets.last().unwrap() + ids.len() as i64);
        }
        let offsets: Vec<u8> = offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
        let labels: Vec<u8> = self.labels.iter().flat_map(|l| l.to_le_bytes()).collect();
        let n_ids = flat.len() / 4;
        let view = |dtype, n, data| TensorView::new(dtype, vec![n], data).map_err(bad(path));
        let tensors = vec![
            ("ids", view(Dtype::U32, n_ids, &flat[..])?),
            ("offsets", view(Dtype::I64, self.ids.len() + 1, &offsets[..])?),
            ("labels", view(Dtype::I64, self.labels.len(), &labels[..])?),
        ];
        safetensors::serialize_to_file(tensors, None::<HashMap<String, String>>, path).map_err(bad(path))
    }

    pub fn read(path: &Path) -> Result<Self, StageError> {
        let bytes = std::fs::read(path).map_err(StageError::io(path))?;
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(bad(path))?;
        let get = |name: &str| st.tensor(name).map_err(bad(path));
        let ids: Vec<u32> =
            get("ids")?.data().chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        let i64s = |name| -> Result<Vec<i64>, StageError> {
            Ok(get(name)?.data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect())
        };
        let offsets = i64s("offsets")?;
        let labels = i64s("labels")?;
        let ids = offsets.windows(2).map(|w| ids[w[0] as usize..w[1] as usize].to_vec()).collect::<Vec<_>>();
        if ids.len() != labels.len() {
            return Err(StageError::Input(format!(
                "{}: {} rows of ids but {} labels",
                path.display(),
                ids.len(),
                labels.len()
            )));
        }
        Ok(TokenizedSplit { ids, labels })
    }
}

fn bad(path: &Path) -> impl Fn(safetensors::SafeTensorError) -> StageError + '_ {
    move |e| StageError::Input(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_ragged_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        let split = TokenizedSplit { ids: vec![vec![101, 7, 102], vec![], vec![101, 102]], labels: vec![1, 0, -1] };
        split.write(&path).unwrap();
        assert_eq!(TokenizedSplit::read(&path).unwrap(), split);
    }

    #[test]
    fn round_trips_an_empty_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        let split = TokenizedSplit { ids: vec![], labels: vec![] };
        split.write(&path).unwrap();
        assert_eq!(TokenizedSplit::read(&path).unwrap(), split);
    }
}
