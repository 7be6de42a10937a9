//! `pipe predict`: classifies sentences with a trained model — the `train` stage's
//! `model/` directory found through a run record, or a directory given outright —
//! and names the tokens that drove each prediction (integrated gradients).
//! The computing is `pipe_stages::predict`; this finds the model and prints.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use pipe_stages::model::{PrecisionChoice, Quantize};
use pipe_stages::predict::{Prediction, Predictor, DEFAULT_IG_STEPS, DEFAULT_MAX_LEN, DEFAULT_TOP_K};
use pipe_stages::StageError;

use crate::record::{self, RunRecord, Status};
use crate::store::Store;
use crate::{suggest, Error};

/// The stage kind whose artifact holds the model directory, and that directory's name in it.
const TRAIN_KIND: &str = "train";
const MODEL_DIR: &str = "model";

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe predict \"a gorgeous, witty film\" \"a dull, lifeless mess\"
  pipe predict --run 20261130T051500 --top 3 \"not bad at all\"
  pipe predict --stage 'train[dropout=0.1,pooling=mean]' --run latest \"it works\"
  pipe predict --model cache/objects/ab/ab12…/model --json - < sentences.txt")]
pub struct Args {
    /// Sentences to classify; `-` reads them from stdin, one per line
    #[arg(value_name = "TEXT", required = true)]
    pub texts: Vec<String>,
    /// The run whose train stage made the model: id, unique id prefix or `latest`
    #[arg(long, default_value = "latest", conflicts_with = "model")]
    pub run: String,
    /// The train instance (or stage) to take when the run has several
    #[arg(long, value_name = "INSTANCE", conflicts_with = "model")]
    pub stage: Option<String>,
    /// A model directory (config.json, model.safetensors, tokenizer.json) instead of a run's
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// How many tokens to list per sentence, strongest first (0: skip the attribution)
    #[arg(long, value_name = "K", default_value_t = DEFAULT_TOP_K)]
    pub top: usize,
    /// Integrated-gradients interpolation steps
    #[arg(long, value_name = "N", default_value_t = DEFAULT_IG_STEPS)]
    pub ig_steps: usize,
    /// Tokens read per sentence ([CLS] and [SEP] included); longer sentences are cut
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_LEN)]
    pub max_len: usize,
    /// Precision of the dense layers' matrix products, as the train stage's `precision`
    #[arg(long, value_name = "P", value_enum, default_value_t = PrecisionChoice::Auto)]
    pub precision: PrecisionChoice,
    /// Quantize the dense layers for inference (int8: dynamic, as PyTorch's quantize_dynamic)
    #[arg(long, value_name = "Q", value_enum, default_value_t = Quantize::None)]
    pub quantize: Quantize,
    /// One JSON object per sentence, one per line
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: Args, cache: &Path) -> Result<(), Error> {
    let sentences = sentences(&args.texts, &mut std::io::stdin().lock())?;
    let dir = match &args.model {
        Some(dir) => dir.clone(),
        None => {
            let store = Store::new(cache)?;
            if record::list(&store)?.is_empty() {
                return Err(Error::Config(format!(
                    "no runs recorded in {}: run a pipeline with a train stage first, or give --model DIR",
                    store.runs_dir().display()
                )));
            }
            model_dir(&store, &record::find(&store, &args.run)?, args.stage.as_deref())?
        }
    };
    if !dir.is_dir() {
        return Err(Error::Config(format!("model directory {} does not exist", dir.display())));
    }
    let precision = args.precision.resolve();
    if let Some(why) = precision.slow_here() {
        eprintln!("warning: {why}");
    }
    let predictor = Predictor::load(&dir, args.max_len, precision, args.quantize).map_err(|e| match e {
        // A `--model` directory that is no model is the command line's mistake (exit 2).
        StageError::Input(message) if args.model.is_some() => Error::Config(message),
        e => e.into(),
    })?;
    let predictions = predictor.predict(&sentences, args.top, args.ig_steps)?;
    for p in &predictions {
        if args.json {
            println!(
                "{}",
                serde_json::to_string(p).map_err(|e| Error::Failed { message: e.to_string(), config: false })?
            );
        } else {
            print!("{}", text(p));
        }
    }
    Ok(())
}

/// The arguments, with `-` replaced by stdin's lines. Blank sentences are usage errors
/// named by where they came from, found before the model is loaded.
fn sentences(args: &[String], stdin: &mut dyn BufRead) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if arg != "-" {
            if arg.trim().is_empty() {
                return Err(Error::Config(format!("argument {} is empty: give some text to classify", i + 1)));
            }
            out.push(arg.clone());
            continue;
        }
        let mut lines = stdin.lines().collect::<Result<Vec<String>, _>>().map_err(|e| match e.kind() {
            // Input the user gave, like a blank line: a usage error, not a failure.
            std::io::ErrorKind::InvalidData => Error::Config("stdin is not UTF-8 text: give sentences as UTF-8".into()),
            _ => Error::io("<stdin>")(e),
        })?;
        // Blank lines at the end (an editor's final newline, `echo`) are not sentences.
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        if let Some(n) = lines.iter().position(|l| l.trim().is_empty()) {
            return Err(Error::Config(format!(
                "line {} of stdin is empty: one sentence per line, no blank lines",
                n + 1
            )));
        }
        if lines.is_empty() {
            return Err(Error::Config("`-` given but stdin has no sentences (one per line)".into()));
        }
        out.extend(lines);
    }
    Ok(out)
}

/// The `model/` directory of the run's train instance (the one `stage` selects when there are several).
fn model_dir(store: &Store, run: &RunRecord, stage: Option<&str>) -> Result<PathBuf, Error> {
    let trains: Vec<_> = run.stages.iter().filter(|s| s.kind == TRAIN_KIND).collect();
    let names = || trains.iter().map(|s| s.instance.as_str()).collect::<Vec<_>>();
    let chosen: Vec<_> = match stage {
        None => trains.clone(),
        Some(name) => trains.iter().copied().filter(|s| s.instance == name || s.stage == name).collect(),
    };
    let train = match (chosen.as_slice(), stage) {
        ([one], _) => *one,
        ([], None) => {
            return Err(Error::Config(format!(
                "run {} (pipeline `{}`) has no `{TRAIN_KIND}` stage: give another --run or --model DIR",
                run.id, run.pipeline
            )))
        }
        ([], Some(name)) => {
            return Err(Error::Config(format!(
                "run {} has no train instance `{name}`{}; its train instances: {}",
                run.id,
                suggest::hint(name, names()),
                names().join(", ")
            )))
        }
        (many, _) => {
            let list: Vec<&str> = many.iter().map(|s| s.instance.as_str()).collect();
            return Err(Error::Config(format!(
                "run {} has {} train instances: {}; pick one with --stage INSTANCE or give --model DIR",
                run.id,
                list.len(),
                list.join(", ")
            )));
        }
    };
    let built = matches!(train.status, Status::Ran | Status::Cached | Status::Pulled);
    let Some(key) = train.key.as_deref().filter(|_| built) else {
        return Err(Error::Config(format!(
            "`{}` did not finish in run {} (status {}): no model to use",
            train.instance,
            run.id,
            train.status.as_str()
        )));
    };
    let Some(artifact) = store.lookup(key)? else {
        return Err(Error::Config(format!(
            "the artifact of `{}` from run {} is no longer in {} (removed by `pipe gc`?): rerun the pipeline",
            train.instance,
            run.id,
            store.root().display()
        )));
    };
    let dir = artifact.dir.join(MODEL_DIR);
    if !dir.is_dir() {
        return Err(Error::Config(format!(
            "`{}` of run {} has no `{MODEL_DIR}/` directory in {}",
            train.instance,
            run.id,
            artifact.dir.display()
        )));
    }
    Ok(dir)
}

/// `positive  0.973  a gorgeous, witty film` then the top tokens with their scores.
fn text(p: &Prediction) -> String {
    let mut out = format!("{:<9} {:.3}  {}\n", p.label, p.probability, p.text);
    if !p.top_tokens.is_empty() {
        let tokens: Vec<String> = p.top_tokens.iter().map(|t| format!("{} {:+.3}", t.token, t.score)).collect();
        out.push_str(&format!("          top tokens: {}\n", tokens.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_reads_stdin_lines_in_place_and_blank_lines_inside_are_errors() {
        let args = ["first".to_string(), "-".to_string(), "last".to_string()];
        let got = sentences(&args, &mut "a\nb\n".as_bytes()).unwrap();
        assert_eq!(got, ["first", "a", "b", "last"]);
        let got = sentences(&args, &mut "a\nb\n\n \n".as_bytes()).unwrap();
        assert_eq!(got, ["first", "a", "b", "last"], "blank lines at the end are no sentences");
        let err = sentences(&args, &mut "a\n\nb\n".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("line 2 of stdin is empty"), "{err}");
        let err = sentences(&args, &mut "".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("stdin has no sentences"), "{err}");
        let err = sentences(&["ok".into(), "  ".into()], &mut "".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("argument 2 is empty"), "{err}");
        assert_eq!(err.exit_code(), 2);
        let err = sentences(&args, &mut b"a\n\xff\xfe x\n".as_slice()).unwrap_err();
        assert_eq!(
            (err.to_string().as_str(), err.exit_code()),
            ("stdin is not UTF-8 text: give sentences as UTF-8", 2)
        );
    }
}
