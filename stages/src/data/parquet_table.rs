//! Parquet files through the `parquet` crate's row API. Only the snappy codec is
//! compiled in (what the hub's datasets use), so other codecs are reported up
//! front with the file and column rather than as a decoder failure mid-read.

use std::path::Path;

use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use serde_json::Value;

use super::table::{unreadable, Table};
use crate::StageError;

pub fn read(path: &Path) -> Result<Table, StageError> {
    let file = std::fs::File::open(path).map_err(|e| unreadable(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| unreadable(path, e))?;
    check_codecs(path, &reader)?;
    let columns: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let mut rows = Vec::new();
    for (r, row) in reader.get_row_iter(None).map_err(|e| unreadable(path, e))?.enumerate() {
        let row = row.map_err(|e| unreadable(path, format!("row {}: {e}", r + 1)))?;
        rows.push(row.get_column_iter().map(|(_, field)| cell(field)).collect());
    }
    Ok(Table { path: path.to_path_buf(), columns, rows })
}

fn check_codecs(path: &Path, reader: &SerializedFileReader<std::fs::File>) -> Result<(), StageError> {
    for group in reader.metadata().row_groups() {
        for column in group.columns() {
            let codec = column.compression();
            if !matches!(codec, Compression::UNCOMPRESSED | Compression::SNAPPY) {
                // `ZSTD(ZstdLevel(1))` -> `ZSTD`: the level is irrelevant to the reader.
                let codec = codec.to_string();
                let codec = codec.split('(').next().unwrap_or_default();
                return Err(unreadable(
                    path,
                    format!(
                        "column `{}` is compressed with {codec}, but this build reads only snappy or \
                         uncompressed parquet (rewrite it with snappy, or use TSV/CSV/JSONL)",
                        column.column_path().string()
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn cell(field: &Field) -> Value {
    match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Byte(v) => Value::from(*v),
        Field::Short(v) => Value::from(*v),
        Field::Int(v) => Value::from(*v),
        Field::Long(v) => Value::from(*v),
        Field::UByte(v) => Value::from(*v),
        Field::UShort(v) => Value::from(*v),
        Field::UInt(v) => Value::from(*v),
        Field::ULong(v) => Value::from(*v),
        Field::Float(v) => Value::from(*v as f64),
        Field::Double(v) => Value::from(*v),
        Field::Str(s) => Value::String(s.clone()),
        // Dates, decimals, nested values: their display form, which label validation rejects.
        other => Value::String(other.to_string()),
    }
}
