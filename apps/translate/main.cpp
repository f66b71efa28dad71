// seqtorch-translate: data | train | evaluate | translate | export. Glue only: options in,
// library calls out.
#include "common/cli.h"

#include <seqtorch/data/text.h>
#include <seqtorch/data/toy_tasks.h>
#include <seqtorch/export/translate_export.h>
#include <seqtorch/metrics/translation.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/translate/task.h>
#include <seqtorch/translate/translator.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>
#include <seqtorch/util/stop_signal.h>

#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>

namespace st = seqtorch;
using namespace seqtorch::apps;

namespace {

const char* kProgram = "seqtorch-translate";

struct TranslateCli {
  CommonOptions c;
  // data
  std::string data, valid, task, units = "auto", split = "test";
  int64_t examples = 20000, min_count = 1, max_vocab = 8000, max_length = 0;
  double valid_fraction = 0.05;
  // model
  int64_t embedding_size = 128;
  std::string attention = "general", style = "luong";
  bool input_feed = false, no_bridge = false, tie_embeddings = false;
  double label_smoothing = 0.1, teacher_forcing = 1.0;
  int64_t decode_sentences = 200;
  // decoding and files
  std::string checkpoint, output, input, show_attention;
  int64_t beam = 5, n_best = 1, max_length_offset = 10;
  double length_penalty = 0.6, max_length_ratio = 2.0;

  TranslateCli() {
    c.cell = "gru";
    c.hidden_size = 256;
    c.bidirectional = true;
    c.dropout = 0.2;
    c.batch_size = 64;
    c.lr = 2e-3;
    c.epochs = 30;
    c.eval_every = 0;
  }

  po::options_description data_options(bool training) {
    po::options_description d("Data");
    d.add_options()
        ("data", po::value(&data), "parallel text, source<TAB>target per line (UTF-8)")
        ("task", po::value(&task)->notifier(one_of("task", {"dates", "numbers", "roman"})), "instead of --data: a built-in task, dates | numbers | roman")
        ("examples", po::value(&examples)->default_value(training ? examples : 1000)->notifier(at_least<int64_t>("examples", 1)), "built-in task: pairs to generate");
    if (training)
      d.add_options()
          ("valid", po::value(&valid), "validation TSV (default: part of --data; built-in task: held-out targets)")
          ("valid-fraction", po::value(&valid_fraction)->default_value(valid_fraction, short_text(valid_fraction))->notifier(within("valid-fraction", 0, 1, "()")), "without --valid: the share of --data held out (at most 2000 pairs)")
          ("units", po::value(&units)->default_value(units)->notifier(one_of("units", {"char", "word", "auto"})), "char | word | auto (word for sentences of several words, else char)")
          ("min-count", po::value(&min_count)->default_value(min_count)->notifier(at_least<int64_t>("min-count", 1)), "tokens seen fewer times become <unk>")
          ("max-vocab", po::value(&max_vocab)->default_value(max_vocab)->notifier(max_vocab_check()), "ids per vocabulary at most (0: no limit)")
          ("max-length", po::value(&max_length)->default_value(max_length)->notifier(at_least<int64_t>("max-length", 0)), "skip training pairs longer than this many tokens (0: keep all)");
    return d;
  }
  po::options_description model_extra() {
    po::options_description d("Encoder-decoder");
    d.add_options()
        ("embedding-size", po::value(&embedding_size)->default_value(embedding_size)->notifier(at_least<int64_t>("embedding-size", 1)), "token embedding width")
        ("attention", po::value(&attention)->default_value(attention)->notifier(one_of("attention", {"additive", "dot", "general"})), "additive | dot | general")
        ("style", po::value(&style)->default_value(style)->notifier(one_of("style", {"luong", "bahdanau"})), "luong | bahdanau (the PyTorch tutorial's decoder)")
        ("input-feed", po::value(&input_feed)->default_value(false)->implicit_value(true), "Luong input feeding")
        ("no-bridge", po::value(&no_bridge)->default_value(false)->implicit_value(true), "pass the encoder's state on unchanged (unidirectional encoders)")
        ("tie-embeddings", po::value(&tie_embeddings)->default_value(false)->implicit_value(true), "output layer shares the target embedding (embedding-size = hidden-size)")
        ("label-smoothing", po::value(&label_smoothing)->default_value(label_smoothing, short_text(label_smoothing))->notifier(within("label-smoothing", 0, 1, "[)")), "label smoothing of the training loss")
        ("teacher-forcing", po::value(&teacher_forcing)->default_value(teacher_forcing, short_text(teacher_forcing))->notifier(within("teacher-forcing", 0, 1)), "probability of reading the true previous token")
        ("decode-sentences", po::value(&decode_sentences)->default_value(decode_sentences)->notifier(at_least<int64_t>("decode-sentences", 0)), "validation pairs decoded (BLEU, exact match) at each evaluation");
    return d;
  }
  po::options_description decoding() {
    po::options_description d("Decoding");
    d.add_options()
        ("beam", po::value(&beam)->default_value(beam)->notifier(at_least<int64_t>("beam", 1)), "beam width (1: greedy)")
        ("n-best", po::value(&n_best)->default_value(n_best)->notifier(at_least<int64_t>("n-best", 1)), "translations per sentence (translate)")
        ("length-penalty", po::value(&length_penalty)->default_value(length_penalty, short_text(length_penalty))->notifier(at_least("length-penalty", 0.0)), "GNMT length penalty alpha")
        ("max-length-ratio", po::value(&max_length_ratio)->default_value(max_length_ratio, short_text(max_length_ratio))->notifier(above("max-length-ratio", 0.0)), "at most ratio * source tokens + offset")
        ("max-length-offset", po::value(&max_length_offset)->default_value(max_length_offset)->notifier(at_least<int64_t>("max-length-offset", 0)), "see --max-length-ratio");
    return d;
  }
  po::options_description files(const char* output_help, bool translating) {
    po::options_description d("Files");
    d.add_options()("checkpoint", po::value(&checkpoint), "checkpoint (default: OUT/checkpoints/best.pt)")
                   ("output", po::value(&output), output_help);
    if (translating)
      d.add_options()("input", po::value(&input), "sentences, one per line (default: stdin)")
                     ("show-attention", po::value(&show_attention), "draw the attention of the (first 8) sentences into this PNG");
    return d;
  }
  std::vector<Command> commands() {
    std::vector<Command> cmds;
    cmds.push_back({"train", "train a translation model (final JSON: validation loss, bleu, chrf, exact_match)", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(training_options(c)).add(model_options(c)).add(model_extra()).add(data_options(true));
    cmds.push_back({"evaluate", "BLEU, chrF and exact match on a TSV (and of copying the source)", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(files("unused", false)).add(data_options(false)).add(decoding());
    cmds.push_back({"translate", "translate lines (stdin or --input), one output line each", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(files("file to write (default: stdout)", true)).add(decoding());
    cmds.push_back({"export", "TorchScript file with the vocabularies: translate(str, beam) -> str", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(files("the .pt file to write", false));
    cmds.push_back({"data", "write a built-in task as TSV (stdout or --output)", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(files("TSV file (default: stdout)", false));
    cmds.back().options.add_options()("task", po::value(&task)->default_value("dates")->notifier(one_of("task", {"dates", "numbers", "roman"})), "dates | numbers | roman")
        ("examples", po::value(&examples)->default_value(1000)->notifier(at_least<int64_t>("examples", 1)), "pairs")
        ("split", po::value(&split)->default_value(split)->notifier(one_of("split", {"train", "test", "all"})), "train | test | all (test: the held-out targets)");
    return cmds;
  }

  std::vector<st::data::SentencePair> pairs(st::data::ToySplit toy_split, uint64_t seed) const {
    if (!data.empty() && !task.empty()) throw UsageError("give --data or --task, not both");
    if (!task.empty()) {
      return st::data::generate_toy_task(task, examples, seed, toy_split);
    }
    if (data.empty()) throw UsageError("--data FILE.tsv (or --task NAME) is required");
    return st::data::read_parallel_tsv(data);
  }
  st::translate::TranslateOptions translate_options() const {
    if (n_best > beam)
      throw UsageError("--n-best: expected in [1, beam = " + std::to_string(beam) + "], got " + std::to_string(n_best));
    st::translate::TranslateOptions o;
    o.beam = beam;
    o.n_best = n_best;
    o.length_penalty = length_penalty;
    o.max_length_ratio = max_length_ratio;
    o.max_length_offset = max_length_offset;
    o.batch_size = c.batch_size;
    return o;
  }
};

st::data::Units choose_units(const std::string& name, const std::vector<st::data::SentencePair>& pairs) {
  if (name == "auto") return st::translate::auto_units(pairs);
  return st::data::parse_units(name);  // checked when read (one_of)
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream file;
  if (!path.empty()) {
    file.open(path, std::ios::binary);
    if (!file) throw std::runtime_error(path + ": cannot be read");
  }
  std::istream& in = path.empty() ? std::cin : file;
  const std::string origin = path.empty() ? "stdin" : path;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    st::data::decode_utf8(line, origin + ":" + std::to_string(n));  // valid UTF-8, or one clear line
    lines.push_back(line);
  }
  return lines;
}

// Writes the attention of up to 8 translations as JSON and draws it with plot_attention.py.
void draw_attention(const std::vector<st::translate::Translation>& ts, const std::string& png) {
  const std::string data_path = png + ".json";
  st::util::write_file_atomically(data_path, st::translate::attention_json(ts, 8));
  try {
    run_python_script("plot_attention.py", {data_path, "-o", png}, "--show-attention");
  } catch (...) {
    std::remove(data_path.c_str());
    throw;
  }
  std::remove(data_path.c_str());
}

int run(int argc, char** argv) {
  TranslateCli f;
  auto commands = f.commands();
  auto parsed = parse_command_line(argc, argv, kProgram, commands);
  if (parsed.help) return std::cout << help_text(kProgram, commands, parsed.command), 0;
  apply_runtime_options(f.c);

  if (parsed.command == "data") {
    const auto split = f.split == "train" ? st::data::ToySplit::train   // checked when read (one_of)
                     : f.split == "test" ? st::data::ToySplit::test : st::data::ToySplit::all;
    const auto pairs = f.pairs(split, f.c.seed);
    if (!f.output.empty()) {
      st::data::write_parallel_tsv(f.output, pairs);
    } else {
      for (const auto& p : pairs) std::cout << p.source << '\t' << p.target << '\n';
    }
    return 0;
  }
  torch::Device device = resolve_device(f.c);
  const std::string out = f.c.out;

  if (parsed.command == "train") {
    const TrainingProcesses procs(f.c, device);  // torchrun: this process's place and device
    auto train_pairs = f.pairs(st::data::ToySplit::train, f.c.seed);
    std::vector<st::data::SentencePair> valid_pairs;
    if (!f.valid.empty()) {
      valid_pairs = st::data::read_parallel_tsv(f.valid);
    } else if (!f.task.empty()) {
      valid_pairs = st::data::generate_toy_task(f.task, std::min<int64_t>(1000, std::max<int64_t>(50, f.examples / 20)),
                                                f.c.seed + 7919, st::data::ToySplit::test);
    } else {
      std::tie(train_pairs, valid_pairs) = st::data::hold_out(std::move(train_pairs), f.valid_fraction, 2000, f.c.seed);
    }
    const auto units = choose_units(f.units, train_pairs);
    std::vector<std::vector<std::string>> src_tokens, tgt_tokens;
    for (const auto& p : train_pairs) {
      src_tokens.push_back(st::data::tokenize(p.source, units));
      tgt_tokens.push_back(st::data::tokenize(p.target, units));
    }
    st::translate::ModelSpec spec;
    spec.units = units;
    try {
      spec.seq2seq.embedding_size(f.embedding_size).cell(cell_kind(f.c)).hidden_size(f.c.hidden_size)
          .num_layers(f.c.num_layers).bidirectional(f.c.bidirectional).dropout(f.c.dropout)
          .attention(st::nn::parse_attention(f.attention)).style(st::nn::parse_decoder_style(f.style))
          .input_feed(f.input_feed).bridge(!f.no_bridge).tie_embeddings(f.tie_embeddings);
    } catch (const c10::Error& e) {
      throw UsageError(e.msg());
    }
    st::translate::TranslationModel model(spec, st::data::TokenVocabulary::build(src_tokens, f.min_count, f.max_vocab),
                                          st::data::TokenVocabulary::build(tgt_tokens, f.min_count, f.max_vocab));
    auto train_encoded = st::translate::encode_pairs(model, train_pairs);
    if (f.max_length > 0) {
      const size_t dropped = st::translate::drop_longer(train_encoded, f.max_length);
      if (!f.c.quiet && procs.first()) std::cerr << kProgram << ": " << dropped << " training pairs longer than " << f.max_length << " tokens skipped\n";
      if (train_encoded.empty()) throw std::runtime_error("--max-length " + std::to_string(f.max_length) + " leaves no training pair");
    }
    model->to(device);
    procs.seed_streams(f.c.seed);
    st::translate::TaskOptions to;
    to.batch_size = f.c.batch_size;
    to.teacher_forcing = f.teacher_forcing;
    to.label_smoothing = f.label_smoothing;
    to.decode_sentences = f.decode_sentences;
    to.seed = f.c.seed;
    to.shard = procs.shard();
    st::translate::TranslationTask task(model, std::move(train_encoded), st::translate::encode_pairs(model, valid_pairs), valid_pairs, to, device);
    auto opt = st::train::make_optimizer(model->parameters(), optimizer_options(f.c));
    st::train::LrSchedule sched(f.c.lr, schedule_options(f.c, f.c.epochs * task.batches_per_epoch()));
    const std::string config = procs.write_run_config(out, parsed.values);
    auto trainer = trainer_options(f.c, "translate", config);
    trainer.items_name = "tokens";
    trainer.parallel = procs.parallel();
    if (!f.c.quiet && procs.first())
      std::cerr << kProgram << ": " << train_pairs.size() << " training pairs, " << valid_pairs.size()
                << " validation pairs; units " << st::data::to_string(units) << "; vocabularies "
                << model->source_vocab.size() << " / " << model->target_vocab.size() << "\n";
    st::util::install_stop_handlers();
    auto result = st::train::train(task, *opt, sched, trainer);
    if (result.signal || !procs.first()) return train_exit_code(result);
    auto metrics = result.best_metrics;
    metrics["epochs"] = static_cast<double>(result.epochs);
    metrics["steps"] = static_cast<double>(result.steps);
    metrics["skipped_steps"] = static_cast<double>(result.skipped_steps);  // non-finite loss or gradient
    metrics["train_seconds"] = result.elapsed_s;
    if (result.step_seconds > 0) metrics["tokens_per_s"] = static_cast<double>(result.items) / result.step_seconds;
    report_metrics(out, metrics, {{"units", st::data::to_string(units)}});
    return 0;
  }

  // evaluate, translate, export: the model comes from the checkpoint alone.
  const std::string ckpt = checkpoint_beneath(f.c, f.checkpoint, "translate", po::options_description(), parsed.values);
  auto model = st::translate::model_of_checkpoint(ckpt);
  st::train::load_checkpoint(ckpt, "translate", *model, nullptr, false);
  model->eval();

  if (parsed.command == "evaluate") {
    const auto options = f.translate_options();
    const auto pairs = f.pairs(st::data::ToySplit::test, f.c.seed + 104729);
    std::vector<std::string> sources, references;
    for (const auto& p : pairs) {
      sources.push_back(p.source);
      references.push_back(p.target);
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto translations = st::translate::translate(model, sources, options, device);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<std::string> hypotheses;
    for (const auto& t : translations) hypotheses.push_back(t.texts.at(0));
    auto metrics = st::translate::score_translations(hypotheses, references);
    const auto copy = st::translate::score_translations(sources, references);
    metrics["copy_bleu"] = copy.at("bleu");
    metrics["copy_chrf"] = copy.at("chrf");
    metrics["beam"] = static_cast<double>(f.beam);
    metrics["translate_seconds"] = seconds;
    report_metrics(f.checkpoint.empty() ? out : std::string(), metrics);
    return 0;
  }
  if (parsed.command == "translate") {
    auto options = f.translate_options();
    options.keep_attention = !f.show_attention.empty();
    const auto lines = read_lines(f.input);
    std::vector<std::string> sentences;
    std::vector<size_t> where;  // blank lines stay blank
    for (size_t i = 0; i < lines.size(); ++i)
      if (lines[i].find_first_not_of(" \t") != std::string::npos) {
        sentences.push_back(lines[i]);
        where.push_back(i);
      }
    const auto translations = sentences.empty() ? std::vector<st::translate::Translation>()
                                                : st::translate::translate(model, sentences, options, device);
    std::vector<std::vector<std::string>> texts(lines.size());
    std::vector<std::vector<double>> scores(lines.size());
    for (size_t k = 0; k < where.size(); ++k) {
      texts[where[k]] = translations[k].texts;
      scores[where[k]] = translations[k].scores;
    }
    auto write = [&](std::ostream& os) {
      for (size_t i = 0; i < lines.size(); ++i) {
        if (f.n_best == 1) {
          os << (texts[i].empty() ? std::string() : texts[i][0]) << '\n';
        } else {
          for (size_t h = 0; h < texts[i].size(); ++h) os << i << '\t' << scores[i][h] << '\t' << texts[i][h] << '\n';
        }
      }
    };
    if (!f.show_attention.empty() && !translations.empty()) draw_attention(translations, f.show_attention);
    if (f.output.empty()) {
      write(std::cout);
      std::cout.flush();
    } else {
      st::util::write_atomically(f.output, write);
    }
    return 0;
  }
  if (f.output.empty()) throw UsageError("export: --output FILE.pt is required");
  model->to(torch::kCPU);
  st::exporting::export_translation_model(model, f.output);
  if (!f.c.quiet) std::cerr << kProgram << ": wrote " << f.output << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(kProgram, argv, [&] { return run(argc, argv); });
}
