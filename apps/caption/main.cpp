// seqtorch-caption: data | train | evaluate | describe | export. Glue only: options in, library
// calls out.
#include "common/cli.h"

#include <seqtorch/caption/alignment.h>
#include <seqtorch/caption/describer.h>
#include <seqtorch/caption/task.h>
#include <seqtorch/data/coco.h>
#include <seqtorch/data/images.h>
#include <seqtorch/export/caption_export.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/util/file_system.h>
#include <seqtorch/util/messages.h>
#include <seqtorch/util/stop_signal.h>

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <tuple>

namespace st = seqtorch;
using namespace seqtorch::apps;

namespace {

const char* kProgram = "seqtorch-caption";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct CaptionCli {
  CommonOptions c;
  // data
  std::string images, captions, valid_captions, split = "all";
  int64_t count = 4000, min_count = 2, max_vocab = 10000, loader_threads = 0;
  double valid_fraction = 0.05;
  // model
  int64_t image_size = 64, channels = 128, stages = 3, embedding_size = 128, attention_size = 0;
  std::string decoder = "attend", backbone, mean = "0.485 0.456 0.406", stdev = "0.229 0.224 0.225";
  int64_t finetune_from = 0, decode_images = 250, max_length = 20;
  double label_smoothing = 0.1, attention_regularizer = 1.0, margin = 0.2;
  std::string encoder_from;
  // retrieve
  std::vector<std::string> query_images, query_captions;
  int64_t top = 5;
  // decoding and files
  std::string checkpoint, output, attention_dir;
  std::vector<std::string> image_files;
  int64_t beam = 3;
  double length_penalty = 0.0;

  CaptionCli() {
    c.hidden_size = 256;
    c.dropout = 0.3;
    c.batch_size = 32;
    c.lr = 2e-3;
    c.epochs = 30;
    c.clip_grad = 5.0;
  }

  po::options_description data_options(bool training) {
    po::options_description d("Data");
    d.add_options()
        ("images", po::value(&images), "image folder (the JSON's file names are relative to it)")
        ("captions", po::value(&captions), "COCO captions JSON (or a Karpathy split JSON)")
        ("split", po::value(&split)->default_value(split)->notifier(one_of("split", {"train", "val", "test", "all"})), "Karpathy split JSON: train | val | test | all")
        ("loader-threads", po::value(&loader_threads)->default_value(loader_threads)->notifier(at_least<int64_t>("loader-threads", 0)), "image decoding threads (0: all cores)");
    if (training)
      d.add_options()
          ("valid-captions", po::value(&valid_captions), "validation JSON, same image folder (default: part of --captions)")
          ("valid-fraction", po::value(&valid_fraction)->default_value(valid_fraction, short_text(valid_fraction))->notifier(within("valid-fraction", 0, 1, "()")), "without --valid-captions: the share of images held out (at most 500)")
          ("min-count", po::value(&min_count)->default_value(min_count)->notifier(at_least<int64_t>("min-count", 1)), "words seen fewer times become <unk>")
          ("max-vocab", po::value(&max_vocab)->default_value(max_vocab)->notifier(max_vocab_check()), "vocabulary ids at most (0: no limit)");
    return d;
  }
  po::options_description model_extra() {
    po::options_description d("Captioner");
    d.add_options()
        ("decoder", po::value(&decoder)->default_value(decoder)->notifier(one_of("decoder", {"attend", "show_tell", "align"})), "attend (show, attend and tell) | show_tell | align (the image-sentence alignment model, for retrieve)")
        ("encoder-from", po::value(&encoder_from), "start the image encoder (and the word embedding) from this checkpoint, e.g. an align model's")
        ("margin", po::value(&margin)->default_value(margin, short_text(margin))->notifier(above("margin", 0.0)), "align: margin of the ranking loss")
        ("image-size", po::value(&image_size)->default_value(image_size)->notifier(at_least<int64_t>("image-size", 16)), "images are resized to S x S")
        ("channels", po::value(&channels)->default_value(channels)->notifier(at_least<int64_t>("channels", 1)), "CNN: width of the last stage")
        ("stages", po::value(&stages)->default_value(stages)->notifier(at_least<int64_t>("stages", 1)), "CNN: residual stages (each halves the grid)")
        ("backbone", po::value(&backbone), "instead of the CNN: a TorchScript file mapping [B, 3, S, S] to [B, C, h, w]")
        ("finetune-from", po::value(&finetune_from)->default_value(finetune_from)->notifier(at_least<int64_t>("finetune-from", -1)), "the encoder trains from this epoch on (-1: stays frozen)")
        ("mean", po::value(&mean)->default_value(mean)->notifier(three_numbers("mean")), "per-channel pixel mean (0..1 scale)")
        ("std", po::value(&stdev)->default_value(stdev)->notifier(three_numbers("std")), "per-channel pixel std (0..1 scale)")
        ("embedding-size", po::value(&embedding_size)->default_value(embedding_size)->notifier(at_least<int64_t>("embedding-size", 1)), "word embedding width")
        ("attention-size", po::value(&attention_size)->default_value(attention_size)->notifier(at_least<int64_t>("attention-size", 0)), "attention's hidden width (0: hidden size)")
        ("label-smoothing", po::value(&label_smoothing)->default_value(label_smoothing, short_text(label_smoothing))->notifier(within("label-smoothing", 0, 1, "[)")), "label smoothing of the training loss")
        ("attention-regularizer", po::value(&attention_regularizer)->default_value(attention_regularizer, short_text(attention_regularizer))->notifier(at_least("attention-regularizer", 0.0)), "lambda of the doubly stochastic attention term")
        ("decode-images", po::value(&decode_images)->default_value(decode_images)->notifier(at_least<int64_t>("decode-images", 0)), "validation images captioned (BLEU, CIDEr) at each evaluation")
        ("max-length", po::value(&max_length)->default_value(max_length)->notifier(at_least<int64_t>("max-length", 1)), "longest caption in words (training captions are cut)");
    return d;
  }
  po::options_description decoding() {
    po::options_description d("Decoding");
    d.add_options()
        ("beam", po::value(&beam)->default_value(beam)->notifier(at_least<int64_t>("beam", 1)), "beam width (1: greedy)")
        ("length-penalty", po::value(&length_penalty)->default_value(length_penalty, short_text(length_penalty))->notifier(at_least("length-penalty", 0.0)), "GNMT length penalty alpha")
        ("max-length", po::value(&max_length)->default_value(max_length)->notifier(at_least<int64_t>("max-length", 1)), "longest caption in words");
    return d;
  }
  po::options_description files(const char* output_help) {
    po::options_description d("Files");
    d.add_options()("checkpoint", po::value(&checkpoint), "checkpoint (default: OUT/checkpoints/best.pt)")
                   ("output", po::value(&output), output_help);
    return d;
  }
  std::vector<Command> commands() {
    std::vector<Command> cmds;
    cmds.push_back({"train", "train a captioner (final JSON: validation loss, bleu1, bleu4, cider)", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(training_options(c)).add(model_options(c)).add(model_extra()).add(data_options(true));
    cmds.push_back({"evaluate", "BLEU-1..4 and CIDEr-D against all references (last line: JSON)", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(files("unused")).add(data_options(false)).add(decoding());
    cmds.push_back({"describe", "caption images: describe IMAGE... (one caption per line, in order)", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(files("unused")).add(decoding());
    cmds.back().options.add_options()
        ("image", po::value(&image_files)->composing(), "image files (also as positional arguments)")
        ("attention", po::value(&attention_dir), "write one PNG per word with its attention map into this folder");
    cmds.back().positional = "image";
    cmds.push_back({"retrieve", "align model: captions of --captions ranked for each --query-image, images for each --query-caption", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(files("unused")).add(data_options(false));
    cmds.back().options.add_options()
        ("query-image", po::value(&query_images)->composing(), "an image file to find captions for (repeatable)")
        ("query-caption", po::value(&query_captions)->composing(), "a sentence to find images for (repeatable)")
        ("top", po::value(&top)->default_value(top)->notifier(at_least<int64_t>("top", 1)), "results per query");
    cmds.push_back({"export", "TorchScript file with CNN, decoder and vocabulary: describe(image, beam) -> List[str]", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(files("the .pt file to write")).add(decoding());
    cmds.push_back({"data", "write the built-in scenes (images + COCO JSON) into --out", po::options_description()});
    cmds.back().options.add(runtime_options(c));
    cmds.back().options.add_options()("count", po::value(&count)->default_value(count)->notifier(at_least<int64_t>("count", 10)), "images")
        ("image-size", po::value(&image_size)->default_value(image_size)->notifier(at_least<int64_t>("image-size", 16)), "pixels per side");
    return cmds;
  }

  // "a b c" -> three numbers (checked when read: three_numbers).
  static std::vector<double> triple(const std::string& text) {
    std::istringstream in(text);
    std::vector<double> v;
    double x = 0;
    while (in >> x) v.push_back(x);
    if (v.size() != 3 || !in.eof() || !std::isfinite(v[0] + v[1] + v[2])) v.clear();
    return v;
  }
  static std::function<void(const std::string&)> three_numbers(const std::string& option) {
    return [option](const std::string& text) {
      if (triple(text).empty())
        throw UsageError("--" + option + ": expected three numbers, got " + st::util::quoted(text));
    };
  }
  st::caption::DescribeOptions describe_options() const {
    st::caption::DescribeOptions o;
    o.beam = beam;
    o.max_length = max_length;
    o.length_penalty = length_penalty;
    o.batch_size = std::max<int64_t>(c.batch_size, 32);
    return o;
  }
  st::data::CaptionDataset dataset(const std::string& json, const std::string& which) const {
    if (images.empty()) throw UsageError("--images DIR is required");
    if (json.empty()) throw UsageError(which + " FILE.json is required");
    if (!st::util::is_directory(images)) throw std::runtime_error(images + ": not a folder (--images)");
    auto data = st::data::read_caption_json(json, split);
    st::data::check_image_files(data, images, json);
    return data;
  }
  torch::Tensor load(const st::data::CaptionDataset& data, const char* what) const {
    const auto t0 = std::chrono::steady_clock::now();
    auto cache = st::caption::load_dataset_images(data, images, image_size, static_cast<int>(loader_threads));
    const double s = seconds_since(t0);
    if (!c.quiet)
      std::cerr << kProgram << ": " << data.images.size() << " " << what << " images decoded in " << s << " s ("
                << static_cast<int64_t>(static_cast<double>(data.images.size()) / std::max(s, 1e-9)) << " images/s)\n";
    return cache;
  }
};

std::vector<std::vector<std::string>> references_of(const st::data::CaptionDataset& data) {
  std::vector<std::vector<std::string>> refs;
  for (const auto& image : data.images) refs.push_back(image.captions);
  return refs;
}

int run(int argc, char** argv) {
  CaptionCli f;
  auto commands = f.commands();
  auto parsed = parse_command_line(argc, argv, kProgram, commands);
  if (parsed.help) return std::cout << help_text(kProgram, commands, parsed.command), 0;
  apply_runtime_options(f.c);

  if (parsed.command == "data") {
    const auto n = st::data::write_scenes(f.c.out, f.count, f.image_size, f.c.seed);
    if (!f.c.quiet)
      std::cerr << kProgram << ": wrote " << n << " scenes to " << f.c.out << " (images/, captions_{train,val,test,all}.json)\n";
    return 0;
  }
  torch::Device device = resolve_device(f.c);
  const std::string out = f.c.out;

  if (parsed.command == "train") {
    const TrainingProcesses procs(f.c, device);  // torchrun: this process's place and device
    auto train_data = f.dataset(f.captions, "--captions");
    st::data::CaptionDataset valid_data;
    if (!f.valid_captions.empty()) {
      valid_data = f.dataset(f.valid_captions, "--valid-captions");
    } else {
      if (train_data.images.size() < 2) throw std::runtime_error(f.captions + ": at least 2 captioned images are needed to hold some out");
      std::tie(train_data, valid_data) = st::data::hold_out(std::move(train_data), f.valid_fraction, 500, f.c.seed);
    }
    std::vector<std::string> all_captions;
    for (const auto& image : train_data.images) all_captions.insert(all_captions.end(), image.captions.begin(), image.captions.end());
    st::caption::ModelSpec spec;
    std::string backbone_bytes;
    try {
      spec.captioner.image_size(f.image_size).channels(f.channels).stages(f.stages).embedding_size(f.embedding_size)
          .hidden_size(f.c.hidden_size).attention_size(f.attention_size).decoder(st::nn::parse_caption_decoder(f.decoder))
          .dropout(f.c.dropout).mean(f.triple(f.mean)).std(f.triple(f.stdev));
    } catch (const c10::Error& e) {
      throw UsageError(e.msg());
    }
    if (!f.backbone.empty()) backbone_bytes = st::caption::read_backbone(f.backbone);
    st::caption::CaptionModel model(spec, st::caption::build_vocabulary(all_captions, f.min_count, f.max_vocab), backbone_bytes);
    const bool align = spec.captioner.decoder() == st::nn::CaptionDecoder::align;
    if (!f.encoder_from.empty()) {
      auto source = st::caption::model_of_checkpoint(f.encoder_from);
      st::train::load_checkpoint(f.encoder_from, "caption", *source, nullptr, false);
      const auto copied = model->initialise_from(*source);
      if (!f.c.quiet) {
        std::cerr << kProgram << ": started from " << f.encoder_from << ":";
        for (const auto& what : copied) std::cerr << " " << what;
        std::cerr << "\n";
      }
    }
    const auto train_images = f.load(train_data, "training");
    const auto valid_images = f.load(valid_data, "validation");
    model->to(device);
    procs.seed_streams(f.c.seed);
    std::unique_ptr<st::train::TrainTask> task;
    if (align) {
      // Its ranking loss takes the negatives from the batch: a process's part would change it.
      if (procs.parallel() != nullptr)
        throw UsageError("--decoder align: not trained data-parallel (the ranking loss needs the whole batch); run one process");
      st::caption::AlignmentOptions ao;
      ao.batch_size = f.c.batch_size;
      ao.margin = f.margin;
      ao.finetune_from = f.finetune_from;
      ao.seed = f.c.seed;
      task = std::make_unique<st::caption::AlignmentTask>(model, train_images, references_of(train_data), valid_images,
                                                          references_of(valid_data), ao, device);
    } else {
      st::caption::TaskOptions to;
      to.batch_size = f.c.batch_size;
      to.label_smoothing = f.label_smoothing;
      to.attention_regularizer = f.attention_regularizer;
      to.decode_images = f.decode_images;
      to.max_length = f.max_length;
      to.finetune_from = f.finetune_from;
      to.seed = f.c.seed;
      to.shard = procs.shard();
      task = std::make_unique<st::caption::CaptionTask>(model, train_images,
                                                        st::caption::caption_examples(model, references_of(train_data), f.max_length),
                                                        valid_images, references_of(valid_data), to, device);
    }
    auto opt = st::train::make_optimizer(model->parameters(), optimizer_options(f.c));
    st::train::LrSchedule sched(f.c.lr, schedule_options(f.c, f.c.epochs * task->batches_per_epoch()));
    const std::string config = procs.write_run_config(out, parsed.values);
    auto trainer = trainer_options(f.c, "caption", config);
    trainer.parallel = procs.parallel();
    if (align) {
      trainer.metric = "rsum";
      trainer.lower_is_better = false;
    } else if (f.decode_images > 0) {
      trainer.metric = "cider";
      trainer.lower_is_better = false;
    }
    if (!f.c.quiet && procs.first())
      std::cerr << kProgram << ": " << train_data.images.size() << " training images (" << train_data.caption_count()
                << " captions), " << valid_data.images.size() << " validation images; vocabulary " << model->vocab.size()
                << "; encoder " << (f.backbone.empty() ? "CNN" : "backbone " + f.backbone) << " ("
                << model->encoder()->feature_size() << " features)\n";
    st::util::install_stop_handlers();
    auto result = st::train::train(*task, *opt, sched, trainer);
    if (result.signal || !procs.first()) return train_exit_code(result);
    auto metrics = result.best_metrics;
    metrics["epochs"] = static_cast<double>(result.epochs);
    metrics["steps"] = static_cast<double>(result.steps);
    metrics["skipped_steps"] = static_cast<double>(result.skipped_steps);  // non-finite loss or gradient
    metrics["train_seconds"] = result.elapsed_s;
    if (result.step_seconds > 0) metrics["images_per_s"] = static_cast<double>(result.items) / result.step_seconds;
    report_metrics(out, metrics, {{"decoder", st::nn::to_string(spec.captioner.decoder())}});
    return 0;
  }

  // evaluate, describe, export: the model comes from the checkpoint alone.
  const std::string ckpt = checkpoint_beneath(f.c, f.checkpoint, "caption", po::options_description(), parsed.values);
  auto model = st::caption::model_of_checkpoint(ckpt);
  st::train::load_checkpoint(ckpt, "caption", *model, nullptr, false);
  model->eval();
  f.image_size = model->spec.captioner.image_size();
  const auto options = f.describe_options();

  if (parsed.command == "evaluate" && model->aligner) {
    const auto data = f.dataset(f.captions, "--captions");
    const auto cache = f.load(data, "test");
    const auto t0 = std::chrono::steady_clock::now();
    auto metrics = st::caption::retrieval_recall(model, cache, references_of(data), device);
    metrics["rank_seconds"] = seconds_since(t0);
    report_metrics(f.checkpoint.empty() ? out : std::string(), metrics);
    return 0;
  }
  if (parsed.command == "retrieve") {
    if (!model->aligner) throw UsageError("retrieve: this checkpoint holds a captioner; train an alignment model with --decoder align");
    if (f.query_images.empty() && f.query_captions.empty()) throw UsageError("retrieve: give --query-image FILE or --query-caption TEXT");
    const auto data = f.dataset(f.captions, "--captions");
    auto print = [&](const std::string& query, const std::vector<st::caption::Ranked>& found,
                     const std::function<std::string(int64_t)>& name) {
      for (size_t r = 0; r < found.size(); ++r)
        std::cout << query << '\t' << r + 1 << '\t' << found[r].score << '\t' << name(found[r].index) << '\n';
    };
    if (!f.query_images.empty()) {
      std::vector<std::string> pool;
      for (const auto& image : data.images) pool.insert(pool.end(), image.captions.begin(), image.captions.end());
      const auto queries = st::caption::load_images(f.query_images, f.image_size, static_cast<int>(f.loader_threads));
      const auto found = st::caption::rank_captions(model, queries, pool, f.top, device);
      for (size_t q = 0; q < found.size(); ++q)
        print(f.query_images[q], found[q], [&](int64_t i) { return pool[static_cast<size_t>(i)]; });
    }
    if (!f.query_captions.empty()) {
      const auto found = st::caption::rank_images(model, f.load(data, "pool"), f.query_captions, f.top, device);
      for (size_t q = 0; q < found.size(); ++q)
        print(f.query_captions[q], found[q],
              [&](int64_t i) { return st::data::image_path(f.images, data.images[static_cast<size_t>(i)]); });
    }
    std::cout.flush();
    return 0;
  }
  if (parsed.command == "evaluate") {
    const auto data = f.dataset(f.captions, "--captions");
    const auto cache = f.load(data, "test");
    auto o = options;
    o.keep_attention = model->spec.captioner.decoder() == st::nn::CaptionDecoder::attend;
    const auto t0 = std::chrono::steady_clock::now();
    const auto ds = st::caption::describe(model, cache, o, device);
    const double seconds = seconds_since(t0);
    auto metrics = st::caption::score_descriptions(ds, references_of(data));
    for (const auto& [k, v] : st::caption::attention_on_objects(data, ds, f.image_size)) metrics[k] = v;
    metrics["beam"] = static_cast<double>(f.beam);
    metrics["describe_seconds"] = seconds;
    metrics["images_per_s"] = static_cast<double>(ds.size()) / std::max(seconds, 1e-9);
    report_metrics(f.checkpoint.empty() ? out : std::string(), metrics);
    return 0;
  }
  if (parsed.command == "describe") {
    if (f.image_files.empty()) throw UsageError("describe: give one or more image files");
    auto o = options;
    o.keep_attention = !f.attention_dir.empty();
    if (o.keep_attention && model->spec.captioner.decoder() != st::nn::CaptionDecoder::attend)
      throw UsageError("--attention: this model's decoder (show_tell) has no attention");
    const auto images = st::caption::load_images(f.image_files, f.image_size, static_cast<int>(f.loader_threads));
    const auto ds = st::caption::describe(model, images, o, device);
    if (!f.attention_dir.empty()) {
      st::util::create_directories(f.attention_dir);
      for (size_t i = 0; i < ds.size(); ++i) {
        std::string stem = st::util::file_name(f.image_files[i]);
        stem = stem.substr(0, stem.rfind('.'));
        for (size_t w = 0; w < ds[i].words.size(); ++w) {
          char name[32];
          std::snprintf(name, sizeof name, "_%02zu_", w + 1);
          st::data::write_image(st::util::join_path(f.attention_dir, stem + name + ds[i].words[w] + ".png"),
                                st::caption::attention_picture(images[static_cast<int64_t>(i)], ds[i].attention[static_cast<int64_t>(w)]));
        }
      }
    }
    for (const auto& d : ds) std::cout << d.text << '\n';
    std::cout.flush();
    return 0;
  }
  if (f.output.empty()) throw UsageError("export: --output FILE.pt is required");
  model->to(torch::kCPU);
  st::exporting::export_caption_model(model, f.output, options);
  if (!f.c.quiet) std::cerr << kProgram << ": wrote " << f.output << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(kProgram, argv, [&] { return run(argc, argv); });
}
