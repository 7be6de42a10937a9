//! `pipe predict`: classifies sentences with a trained model — the `train` stage's
//! `model/` directory found through a run record, or a directory given outright —
//! and names the tokens that drove each prediction (integrated gradients).
//! The computing is `pipe_stages::predict`; this finds the model and prints.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use pipe_stages::model::{PrecisionChoice, Quantize};
use pipe_stages::predict::{
    PredictError, Prediction, Predictor, DEFAULT_IG_STEPS, DEFAULT_MAX_LEN, DEFAULT_TOP_K, MAX_IG_STEPS,
};
use pipe_stages::StageError;

use crate::record::{self, RunRecord, Status};
use crate::store::Store;
use crate::{plan, suggest, Error};

/// The stage kind whose artifact holds the model directory, and that directory's name in it.
const TRAIN_KIND: &str = "train";
const MODEL_DIR: &str = "model";

/// A relative completeness gap above this is worth a line in the text output: the
/// scores then misstate how much the words moved the probability.
const GAP_NOTE: f64 = 0.05;
/// Nor below this, in probability: the scores print with three decimals, and a relative gap
/// of a near-zero P(x) - P(baseline) says nothing.
const GAP_FLOOR: f64 = 0.0005;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe predict \"a gorgeous, witty film\" \"a dull, lifeless mess\"
  pipe predict --run 20261130T051500 --top 3 \"not bad at all\"
  pipe predict --stage 'train[dropout=0.1,pooling=mean]' --run latest \"it works\"
  pipe predict --model cache/objects/<train key>/model --json - < sentences.txt
  pipe predict - < sentences.txt                  sentences from a file, one per line")]
pub struct Args {
    /// Sentences to classify, one per argument; `-` reads them from stdin, one per line
    /// (`- < FILE` for a file; `@FILE` is text like any other)
    #[arg(value_name = "TEXT", required = true)]
    pub texts: Vec<String>,
    /// The run whose train stage made the model: id, unique id prefix or `latest`
    #[arg(long, default_value = "latest", conflicts_with = "model")]
    pub run: String,
    /// The train instance (or stage) to take when the run has several, values in any order
    #[arg(long, value_name = "INSTANCE", conflicts_with = "model")]
    pub stage: Option<String>,
    /// A model directory (config.json, model.safetensors, tokenizer.json) instead of a run's
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// How many tokens to list per sentence, strongest first by |score| (0: skip the attribution)
    #[arg(long, value_name = "K", default_value_t = DEFAULT_TOP_K)]
    pub top: usize,
    /// Integrated-gradients interpolation steps (1 to 1000)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_IG_STEPS, value_parser = within(1, MAX_IG_STEPS))]
    pub ig_steps: usize,
    /// Tokens read per sentence ([CLS] and [SEP] included, at most the model's positions);
    /// longer sentences are cut, with a warning
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_LEN, value_parser = within(2, usize::MAX))]
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

/// A count option's parser: clap names the option in its error.
fn within(lo: usize, hi: usize) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |s| match s.parse::<usize>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ if hi == usize::MAX => Err(format!("must be a whole number of at least {lo}")),
        _ => Err(format!("must be a whole number from {lo} to {hi}")),
    }
}

/// A sentence and where it came from (`argument 2`, `line 3 of stdin`), for messages.
#[derive(Debug)]
struct Sentence {
    text: String,
    origin: String,
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
    let usage = |e: PredictError| {
        match e {
        PredictError::MaxLen { max_len, limit } => Error::Config(format!(
            "--max-len {max_len} is more than the model's {limit} positions: give --max-len {limit} or less"
        )),
        PredictError::NoTokens { index } => Error::Config(format!(
            "{} has no tokens besides [CLS]/[SEP] (only blanks, zero-width or control characters?): give some text to classify",
            sentences[index].origin
        )),
        // A `--model` directory that is no model is the command line's mistake (exit 2).
        PredictError::Stage(StageError::Input(message)) if args.model.is_some() => Error::Config(message),
        PredictError::Stage(e) => e.into(),
        e @ PredictError::IgSteps { .. } => Error::Config(e.to_string()),
    }
    };
    let predictor = Predictor::load(&dir, args.max_len, precision, args.quantize).map_err(usage)?;
    let texts: Vec<String> = sentences.iter().map(|s| s.text.clone()).collect();
    let predictions = predictor.predict(&texts, args.top, args.ig_steps).map_err(usage)?;
    for (p, sentence) in predictions.iter().zip(&sentences) {
        if p.tokens_kept < p.tokens_total {
            eprintln!(
                "warning: {} was cut to its first {} of {} tokens (--max-len {}); the rest is not classified",
                sentence.origin, p.tokens_kept, p.tokens_total, args.max_len
            );
        }
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

/// The arguments, with `-` replaced by stdin's lines. Blank sentences, and arguments
/// holding a line break (stdin's sentence separator), are usage errors named by where
/// they came from, found before the model is loaded.
fn sentences(args: &[String], stdin: &mut dyn BufRead) -> Result<Vec<Sentence>, Error> {
    let mut out = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if arg != "-" {
            let origin = format!("argument {}", i + 1);
            if arg.trim().is_empty() {
                return Err(Error::Config(format!("{origin} is empty: give some text to classify")));
            }
            if arg.contains(['\n', '\r']) {
                return Err(Error::Config(format!(
                    "{origin} has a line break: give one sentence per argument, or one per line on stdin with `-`"
                )));
            }
            out.push(Sentence { text: arg.clone(), origin });
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
        out.extend(
            lines
                .into_iter()
                .enumerate()
                .map(|(n, text)| Sentence { text, origin: format!("line {} of stdin", n + 1) }),
        );
    }
    Ok(out)
}

/// The `model/` directory of the run's train instance (the one `stage` selects when there are several).
fn model_dir(store: &Store, run: &RunRecord, stage: Option<&str>) -> Result<PathBuf, Error> {
    let trains: Vec<_> = run.stages.iter().filter(|s| s.kind == TRAIN_KIND).collect();
    let names = || trains.iter().map(|s| s.instance.as_str()).collect::<Vec<_>>();
    let chosen: Vec<_> = match stage {
        None => trains.clone(),
        Some(name) => {
            // Values in any order and as YAML writes them, or some of them, as `pipe show` takes them.
            let selector = plan::Selector::parse(name).and_then(Result::ok);
            let picked = |s: &str| selector.as_ref().is_some_and(|sel| sel.picks_name(s));
            trains.iter().copied().filter(|s| s.instance == name || s.stage == name || picked(&s.instance)).collect()
        }
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
    let built = matches!(train.status, Status::Ran | Status::Adopted | Status::Cached | Status::Pulled);
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
    store.rehash(&artifact).map_err(|e| {
        Error::CorruptObject(format!(
            "the artifact of `{}` from run {}: {e}; rerun the pipeline to compute it again",
            train.instance, run.id
        ))
    })?;
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

/// `positive  0.973  a gorgeous, witty film` then the top tokens with their scores,
/// and a note when the attribution did not converge.
fn text(p: &Prediction) -> String {
    let mut out = format!("{:<9} {:.3}  {}\n", p.label, p.probability, p.text);
    if !p.top_tokens.is_empty() {
        let tokens: Vec<String> = p.top_tokens.iter().map(|t| format!("{} {}", t.token, score(t.score))).collect();
        out.push_str(&format!("          top tokens: {}\n", tokens.join(", ")));
    }
    if let Some(ig) =
        p.integrated_gradients.as_ref().filter(|ig| ig.relative_gap > GAP_NOTE && ig.completeness_gap >= GAP_FLOOR)
    {
        out.push_str(&format!(
            "          attribution not converged: scores sum {:.3} away from P(x) - P(baseline) = {:.3} ({:.0}%) at {} steps: raise --ig-steps\n",
            ig.completeness_gap,
            ig.f_input - ig.f_baseline,
            100.0 * ig.relative_gap,
            ig.steps
        ));
    }
    out
}

/// A score with its sign, `0.000` when it rounds to zero (no `-0.000`).
fn score(s: f32) -> String {
    let text = format!("{s:+.3}");
    if text[1..] == *"0.000" {
        text[1..].to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sentences: Vec<Sentence>) -> Vec<(String, String)> {
        sentences.into_iter().map(|s| (s.text, s.origin)).collect()
    }

    #[test]
    fn dash_reads_stdin_lines_in_place_and_blank_lines_inside_are_errors() {
        let args = ["first".to_string(), "-".to_string(), "last".to_string()];
        let got = texts(sentences(&args, &mut "a\nb\n".as_bytes()).unwrap());
        let want =
            [("first", "argument 1"), ("a", "line 1 of stdin"), ("b", "line 2 of stdin"), ("last", "argument 3")];
        assert_eq!(got, want.map(|(t, o)| (t.to_string(), o.to_string())));
        let got = texts(sentences(&args, &mut "a\nb\n\n \n".as_bytes()).unwrap());
        assert_eq!(got.len(), 4, "blank lines at the end are no sentences");
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

    #[test]
    fn an_argument_with_a_line_break_is_refused_as_stdin_would_split_it() {
        for text in ["good\nbad", "good\r\nbad"] {
            let err = sentences(&["ok".into(), text.into()], &mut "".as_bytes()).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().starts_with("argument 2 has a line break"), "{err}");
        }
    }

    #[test]
    fn scores_that_round_to_zero_have_no_sign() {
        assert_eq!(
            [-0.0001, 0.0004, -0.0, 0.0, 0.0006, -0.702].map(score),
            ["0.000", "0.000", "0.000", "0.000", "+0.001", "-0.702"]
        );
    }

    #[test]
    fn text_names_a_large_completeness_gap_and_only_that() {
        use pipe_stages::predict::{Convergence, TokenScore};
        let with_gap = |gap: f64| Prediction {
            text: "fine".into(),
            label: "positive".into(),
            probability: 0.9,
            probabilities: vec![0.1, 0.9],
            logits: vec![-1.0, 1.0],
            tokens_kept: 3,
            tokens_total: 3,
            top_tokens: vec![TokenScore { token: "fine".into(), score: -0.0001 }],
            integrated_gradients: Some(Convergence {
                steps: 50,
                f_input: 0.9,
                f_baseline: 0.5,
                completeness_gap: gap,
                relative_gap: gap / 0.4,
            }),
        };
        assert_eq!(text(&with_gap(0.01)), "positive  0.900  fine\n          top tokens: fine 0.000\n");
        let out = text(&with_gap(0.04));
        assert!(
            out.ends_with(
                "scores sum 0.040 away from P(x) - P(baseline) = 0.400 (10%) at 50 steps: raise --ig-steps\n"
            ),
            "{out}"
        );
        // P(x) and P(baseline) nearly equal: a large relative gap of an invisible amount is no news.
        let mut tiny = with_gap(0.0);
        tiny.integrated_gradients =
            tiny.integrated_gradients.map(|c| Convergence { completeness_gap: 1e-5, relative_gap: 1.05, ..c });
        assert!(!text(&tiny).contains("not converged"), "{}", text(&tiny));
    }
}
