// seqtorch-textgen: train | evaluate | sample | export. Glue only: options in, library calls out.
#include "common/cli.h"

#include <seqtorch/export/textgen_export.h>
#include <seqtorch/textgen/budget.h>
#include <seqtorch/textgen/corpus.h>
#include <seqtorch/textgen/fast_generator.h>
#include <seqtorch/textgen/stream_task.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/util/device.h>
#include <seqtorch/util/file_system.h>
#include <seqtorch/util/stop_signal.h>

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <iostream>
#include <optional>

namespace st = seqtorch;
using namespace seqtorch::apps;

namespace {

const char* kProgram = "seqtorch-textgen";

struct TextgenCli {
  CommonOptions c;
  std::string text, checkpoint, output, prime = "The ", weights = "f32";
  bool bytes = false, tie_weights = false;
  double val_fraction = 0.05, temperature = 1.0, top_p = 1.0;
  int64_t seq_len = 100, embedding_size = 64, length = 500, top_k = 0;

  po::options_description data_options() {
    po::options_description d("Text");
    d.add_options()
        ("text", po::value(&text), "UTF-8 text file (default: the King James Bible, from Debian's bible-kjv)")
        ("bytes", po::value(&bytes)->default_value(false)->implicit_value(true), "model bytes instead of code points");
    return d;
  }
  po::options_description model_extra() {
    po::options_description d("Language model");
    d.add_options()
        ("embedding-size", po::value(&embedding_size)->default_value(embedding_size)->notifier(at_least<int64_t>("embedding-size", 1)), "symbol embedding width")
        ("tie-weights", po::value(&tie_weights)->default_value(false)->implicit_value(true), "output layer shares the embedding (needs embedding-size = hidden-size)")
        ("seq-len", po::value(&seq_len)->default_value(seq_len)->notifier(at_least<int64_t>("seq-len", 1)), "truncated BPTT length (state carried across chunks)")
        ("val-fraction", po::value(&val_fraction)->default_value(val_fraction, short_text(val_fraction))->notifier(within("val-fraction", 0, 1, "()")), "the last part of the text, for validation");
    return d;
  }
  po::options_description files(const char* output_help) {
    po::options_description d("Files");
    d.add_options()("checkpoint", po::value(&checkpoint), "checkpoint (default: OUT/checkpoints/best.pt)")
                   ("output", po::value(&output), output_help);
    return d;
  }
  po::options_description sampling() {
    po::options_description d("Sampling");
    d.add_options()
        ("prime", po::value(&prime)->default_value(prime), "text to start from (unknown symbols: a warning, then the unknown symbol)")
        ("length", po::value(&length)->default_value(length)->notifier(at_least<int64_t>("length", 0)), "symbols to generate")
        ("temperature", po::value(&temperature)->default_value(temperature, short_text(temperature))->notifier(at_least("temperature", 0.0)), "0: greedy")
        ("top-k", po::value(&top_k)->default_value(top_k)->notifier(at_least<int64_t>("top-k", 0)), "sample among the k most likely (0: all)")
        ("top-p", po::value(&top_p)->default_value(top_p, short_text(top_p))->notifier(within("top-p", 0, 1, "(]")), "sample among the most likely reaching probability p");
    return d;
  }
  po::options_description weight_options(const char* help) {
    po::options_description d("Weights");
    d.add_options()("weights", po::value(&weights)->default_value(weights)->notifier(one_of("weights", {"f32", "bf16", "int8"})), help);
    return d;
  }
  std::vector<Command> commands() {
    std::vector<Command> cmds;
    cmds.push_back({"train", "train a character language model (final JSON: validation bits_per_char)", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(training_options(c)).add(model_options(c)).add(model_extra()).add(data_options());
    cmds.push_back({"evaluate", "bits per character and perplexity of a text", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(files("unused")).add(data_options())
        .add(weight_options("score with the weight matrices rounded as sample --weights stores them: f32 | bf16 | int8"));
    cmds.push_back({"sample", "generate text, streamed to stdout", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(files("unused")).add(sampling())
        .add(weight_options("weight matrices as f32 | bf16 (half the bytes per token) | int8 (a quarter; one scale per row); LSTM models on the CPU"));
    cmds.push_back({"export", "TorchScript file with the vocabulary: forward(tokens, state), generate(...)", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(files("the .pt file to write"));
    return cmds;
  }
  std::string text_path() const {
    if (!text.empty()) return text;
    // The build tree's corpus, else the one installed beside the program (cmake --install).
    if (st::util::path_exists(SEQTORCH_DEFAULT_CORPUS)) return SEQTORCH_DEFAULT_CORPUS;
    const std::string installed = installed_data_path("corpus/kjv.txt");
    if (!installed.empty() && st::util::path_exists(installed)) return installed;
    throw std::runtime_error(std::string("the default corpus ") + SEQTORCH_DEFAULT_CORPUS +
                             " is missing: install bible-kjv and rebuild (scripts/setup.sh does both), or pass --text FILE");
  }
  // train --time-budget S with none of the model's options given (command line, --config or a
  // resumed run's config.ini): the model, batch and learning rate for the budget
  // (textgen::choose_for_budget), written into `values` so config.ini records them. Not with
  // data-parallel processes (each would probe its own speed); there the general defaults stay.
  std::optional<st::textgen::BudgetChoice> fill_budget_defaults(const st::textgen::Corpus& corpus, torch::Device device,
                                                                  bool parallel, po::variables_map& values) {
    auto given = [&](const char* name) { return values.count(name) && !values[name].defaulted(); };
    if (c.time_budget <= 0 || parallel) return std::nullopt;
    for (const char* name : {"cell", "hidden-size", "num-layers", "dropout", "embedding-size", "tie-weights",
                             "seq-len", "batch-size", "lr", "optimizer"})
      if (given(name)) return std::nullopt;
    const auto b = st::textgen::choose_for_budget(corpus, c.time_budget, device, c.seed);
    auto set = [&](const char* name, auto& field, auto value) {
      field = value;
      values.at(name).value() = boost::any(value);
    };
    set("hidden-size", c.hidden_size, b.hidden_size);
    set("num-layers", c.num_layers, b.num_layers);
    set("embedding-size", embedding_size, b.embedding_size);
    set("seq-len", seq_len, b.seq_len);
    set("batch-size", c.batch_size, b.batch_size);
    set("lr", c.lr, b.lr);
    if (!c.quiet) {
      std::string probed;
      for (const auto& p : b.probed)
        probed += fmt::format("{}{}x{} {:.0f}", probed.empty() ? "" : ", ", p.num_layers, p.hidden_size, p.tokens_per_s);
      std::cerr << fmt::format("{}: --time-budget {} and no model options: LSTM {}x{}, batch {}, lr {} (tokens/s probed: {}; "
                               "the largest with parameters <= tokens / 20 and <= the {} training symbols; {:.1f} s of probes)\n",
                               kProgram, c.time_budget, b.num_layers, b.hidden_size, b.batch_size, b.lr, probed,
                               corpus.train.numel(), b.probe_seconds);
    }
    return b;
  }
  st::textgen::CharModelOptions model(int64_t vocab) const {
    return st::textgen::CharModelOptions(vocab).embedding_size(embedding_size).cell(cell_kind(c))
        .hidden_size(c.hidden_size).num_layers(c.num_layers).dropout(c.dropout).tie_weights(tie_weights);
  }
};

int run(int argc, char** argv) {
  TextgenCli f;
  auto commands = f.commands();
  auto parsed = parse_command_line(argc, argv, kProgram, commands);
  if (parsed.help) return std::cout << help_text(kProgram, commands, parsed.command), 0;
  apply_runtime_options(f.c);
  torch::Device device = resolve_device(f.c);
  const std::string out = f.c.out;

  if (parsed.command == "train") {
    const TrainingProcesses procs(f.c, device);  // torchrun: this process's place and device
    const auto corpus = st::textgen::load_corpus(f.text_path(), f.bytes, f.val_fraction);
    const auto budget = f.fill_budget_defaults(corpus, device, procs.parallel() != nullptr, parsed.values);
    if (budget) st::util::seed_everything(f.c.seed);  // the probes drew from the generators: as if they had not run
    st::textgen::CharModel model(f.model(corpus.vocab.size()), corpus.vocab);
    model->to(device);
    procs.seed_streams(f.c.seed);
    st::textgen::StreamTask task(model, corpus.train, corpus.val, f.c.batch_size, f.seq_len, device, procs.shard());
    auto opt = st::train::make_optimizer(model->parameters(), optimizer_options(f.c));
    st::train::LrSchedule sched(f.c.lr, schedule_options(f.c, f.c.epochs * task.batches_per_epoch()));
    const std::string config = procs.write_run_config(out, parsed.values);
    auto to = trainer_options(f.c, "textgen", config);
    if (budget) to.time_budget_s = std::max(1.0, f.c.time_budget - budget->probe_seconds);  // the probes came out of it
    to.items_name = "tokens";
    to.parallel = procs.parallel();
    st::util::install_stop_handlers();
    auto result = st::train::train(task, *opt, sched, to);
    if (result.signal || !procs.first()) return train_exit_code(result);
    auto metrics = result.best_metrics;
    metrics["epochs"] = static_cast<double>(result.epochs);
    metrics["steps"] = static_cast<double>(result.steps);
    metrics["skipped_steps"] = static_cast<double>(result.skipped_steps);  // non-finite loss or gradient
    metrics["graph_steps"] = static_cast<double>(result.graph_steps);  // replays of a captured CUDA graph
    metrics["train_seconds"] = result.elapsed_s;
    if (budget) {  // what the budget rule chose
      metrics["hidden_size"] = static_cast<double>(budget->hidden_size);
      metrics["num_layers"] = static_cast<double>(budget->num_layers);
      metrics["batch_size"] = static_cast<double>(budget->batch_size);
      metrics["budget_probe_seconds"] = budget->probe_seconds;
    }
    // Training throughput: tokens over the time in training steps (evaluations and checkpoints
    // left out).
    if (result.step_seconds > 0) metrics["tokens_per_s"] = static_cast<double>(result.items) / result.step_seconds;
    report_metrics(out, metrics);
    return 0;
  }

  // evaluate, sample, export: the model comes from the checkpoint's configuration.
  po::options_description everything;
  everything.add(model_options(f.c)).add(f.model_extra()).add(f.data_options());
  const auto ckpt = checkpoint_beneath(f.c, f.checkpoint, "textgen", everything, parsed.values);
  const auto stored = st::textgen::vocabulary_of_checkpoint(ckpt);  // sizes the model
  st::textgen::CharModel model(f.model(stored.size()), stored);
  st::train::load_checkpoint(ckpt, "textgen", *model, nullptr, false);
  model->to(device);
  model->eval();
  const auto vocab = model->vocabulary();

  const auto weights = st::textgen::parse_weight_format(f.weights);
  if (parsed.command == "evaluate") {
    const std::string path = f.text_path();
    st::textgen::round_weights(model, weights);
    int64_t unknown = 0;
    auto ids = st::textgen::encode_text(vocab, st::textgen::read_text_file(path), path, &unknown);
    const auto s = st::textgen::score_text(model, ids, 16, 256, device);
    if (unknown > 0) std::cerr << kProgram << ": " << unknown << " symbols of " << path << " are not in the vocabulary (scored as unknown)\n";
    report_metrics(f.checkpoint.empty() ? out : std::string(),
                   {{"bits_per_char", s.bits_per_char}, {"perplexity", s.perplexity}, {"symbols", static_cast<double>(s.symbols)}},
                   {{"weights", f.weights}});
    return 0;
  }
  if (parsed.command == "sample") {
    if (weights != st::textgen::WeightFormat::f32 && !st::textgen::FastGenerator::supports(model))
      throw UsageError("--weights " + f.weights + ": reduced-precision weights are for LSTM models sampled on the CPU; "
                       "this one is a " + f.c.cell + " model on " + device.str());
    int64_t unknown = 0;
    torch::Tensor prime;
    try {
      prime = st::textgen::encode_text(vocab, f.prime, "--prime", &unknown);
    } catch (const c10::Error& e) {  // a code-point model and bytes that are not UTF-8
      throw UsageError(std::string(e.what_without_backtrace()) + " (this model reads UTF-8 text)");
    }
    if (prime.numel() == 0) throw UsageError("--prime: expected at least one symbol");
    if (unknown > 0) std::cerr << kProgram << ": warning: " << unknown << " symbol(s) of --prime are not in the vocabulary; read as the unknown symbol\n";
    std::cout << f.prime << std::flush;
    std::vector<int64_t> p(prime.data_ptr<int64_t>(), prime.data_ptr<int64_t>() + prime.numel());
    const st::decode::SamplingOptions so{f.temperature, f.top_k, f.top_p};
    auto print = [&](int64_t t) { std::cout << vocab.decode({t}) << std::flush; };
    if (st::textgen::FastGenerator::supports(model)) {  // the batch-1 fast path: the same tokens
      st::textgen::FastGenerator(model, weights).generate(p, f.length, so, f.c.seed, print);
    } else {
      st::textgen::CharStepModel step(model);
      st::decode::generate(step, p, f.length, so, f.c.seed, print);
    }
    std::cout << std::endl;
    return 0;
  }
  if (f.output.empty()) throw UsageError("export: --output FILE.pt is required");
  model->to(torch::kCPU);
  st::exporting::export_char_model(model, f.output);
  if (!f.c.quiet) std::cerr << kProgram << ": wrote " << f.output << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(kProgram, argv, [&] { return run(argc, argv); });
}
