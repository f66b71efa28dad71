// seqtorch-translate's library: a checkpoint alone rebuilds the model; batches are a function of
// (seed, epoch) and cover every pair; translating a batch equals translating one sentence at a
// time (greedy and beam, n-best); the TorchScript export translates exactly as the C++ does; a
// short training run learns the dates task.
#include <seqtorch/data/toy_tasks.h>
#include <seqtorch/export/script_module.h>
#include <seqtorch/export/translate_export.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/train/optimizer.h>
#include <seqtorch/translate/task.h>
#include <seqtorch/translate/translator.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

namespace seqtorch::translate {
namespace {

TranslationModel small_model(data::Units units, nn::CellKind cell, const std::vector<data::SentencePair>& pairs) {
  std::vector<std::vector<std::string>> src, tgt;
  for (const auto& p : pairs) {
    src.push_back(data::tokenize(p.source, units));
    tgt.push_back(data::tokenize(p.target, units));
  }
  ModelSpec spec;
  spec.units = units;
  spec.seq2seq.embedding_size(12).hidden_size(16).cell(cell).dropout(0.0);
  return TranslationModel(spec, data::TokenVocabulary::build(src, 1, 0), data::TokenVocabulary::build(tgt, 1, 0));
}

const std::vector<data::SentencePair> kWords{{"el perro come .", "the dog eats ."},
                                             {"¿ dónde está el gato ?", "where is the cat ?"},
                                             {"la casa es grande", "the house is big"},
                                             {"sí", "yes"}};

TEST(TranslateModel, ACheckpointAloneRebuildsTheModel) {
  torch::manual_seed(1);
  auto m = small_model(data::Units::word, nn::CellKind::lstm, kWords);
  test::TempDir dir;
  train::CheckpointInfo info;
  info.app = "translate";
  train::save_checkpoint(dir.file("t.pt"), info, *m, nullptr);
  auto back = model_of_checkpoint(dir.file("t.pt"));
  train::load_checkpoint(dir.file("t.pt"), "translate", *back, nullptr, false);
  EXPECT_EQ(back->spec.serialize(), m->spec.serialize());
  EXPECT_EQ(back->target_vocab.tokens(), m->target_vocab.tokens());
  m->eval();
  back->eval();
  auto src = torch::tensor(m->encode_source("el gato come .")).unsqueeze(1);
  auto in = torch::tensor(std::vector<int64_t>{2, 5, 6}).unsqueeze(1);
  EXPECT_TRUE(torch::equal(m->seq2seq->forward(src, {}, in), back->seq2seq->forward(src, {}, in)));
  // Not a translation checkpoint.
  info.app = "test";
  auto other = torch::nn::Linear(2, 2);
  train::save_checkpoint(dir.file("o.pt"), info, *other, nullptr);
  EXPECT_TRUE(test::throws_with([&] { model_of_checkpoint(dir.file("o.pt")); }, {"o.pt", "holds no translation model"}));
}

TEST(TranslationTask, BatchesCoverEveryPairAndDependOnSeedAndEpochOnly) {
  auto pairs = data::generate_toy_task("dates", 300, 1, data::ToySplit::train);
  auto m = small_model(data::Units::character, nn::CellKind::gru, pairs);
  std::vector<EncodedPair> enc;
  for (const auto& p : pairs) enc.push_back({m->encode_source(p.source), m->encode_target(p.target)});
  TaskOptions o;
  o.batch_size = 32;
  o.decode_sentences = 20;
  TranslationTask a(m, enc, enc, pairs, o, torch::kCPU), b(m, enc, enc, pairs, o, torch::kCPU);
  EXPECT_EQ(a.batches_per_epoch(), 10);
  // The same epoch gives the same batch whatever came before.
  a.start_epoch(3);
  b.start_epoch(1);
  torch::manual_seed(0);
  const double la = a.train_loss(3, 4).loss.item<double>();
  torch::manual_seed(0);
  const double lb = b.train_loss(3, 4).loss.item<double>();
  EXPECT_EQ(la, lb);
  auto batch = make_batch(enc, {0, 1}, torch::kCPU);
  EXPECT_EQ(batch.target_in[0][0].item<int64_t>(), data::TokenVocabulary::bos);
  EXPECT_EQ(batch.target_out[10][0].item<int64_t>(), data::TokenVocabulary::eos);  // dates: 10 chars
  EXPECT_EQ(batch.target_tokens, 22);
  auto metrics = a.evaluate();
  for (const char* k : {"loss", "perplexity", "token_accuracy", "bleu", "chrf", "exact_match"}) EXPECT_EQ(metrics.count(k), 1u) << k;
}

TEST(Translator, ABatchTranslatesAsOneSentenceAtATime) {
  torch::manual_seed(2);
  auto pairs = data::generate_toy_task("numbers", 200, 1, data::ToySplit::all);
  auto m = small_model(data::Units::character, nn::CellKind::lstm, pairs);
  std::vector<std::string> sentences;
  for (int i = 0; i < 7; ++i) sentences.push_back(pairs[i].source);
  for (int64_t beam : {1, 3}) {
    TranslateOptions o;
    o.beam = beam;
    o.n_best = beam == 1 ? 1 : 2;
    o.batch_size = 4;
    o.max_length_ratio = 0.5;
    o.keep_attention = true;
    auto together = translate(m, sentences, o, torch::kCPU);
    for (size_t i = 0; i < sentences.size(); ++i) {
      auto alone = translate(m, {sentences[i]}, o, torch::kCPU);
      EXPECT_EQ(alone[0].texts, together[i].texts) << "beam " << beam << ": " << sentences[i];
      ASSERT_EQ(together[i].texts.size(), static_cast<size_t>(o.n_best));
      EXPECT_NEAR(alone[0].scores[0], together[i].scores[0], 1e-5);
      ASSERT_TRUE(together[i].attention.defined());
      EXPECT_EQ(together[i].attention.size(0), static_cast<int64_t>(together[i].target_tokens.size()));
      EXPECT_EQ(together[i].attention.size(1), static_cast<int64_t>(together[i].source_tokens.size()));
      EXPECT_TRUE(test::all_close(together[i].attention.sum(1), torch::ones({together[i].attention.size(0)}), 1e-5, "rows sum to 1"));
    }
  }
  TranslateOptions bad;
  bad.beam = 0;
  EXPECT_TRUE(test::throws_with([&] { translate(m, sentences, bad, torch::kCPU); }, {"beam: expected >= 1, got 0"}));
}

TEST(TranslateExport, TheExportTranslatesAsTheProgramDoes) {
  for (auto units : {data::Units::word, data::Units::character}) {
    for (auto cell : {nn::CellKind::gru, nn::CellKind::lstm}) {
      torch::manual_seed(3);
      auto m = small_model(units, cell, kWords);
      if (cell == nn::CellKind::lstm) {  // the other decoder options too
        ModelSpec spec = m->spec;
        spec.seq2seq.input_feed(true).attention(nn::AttentionKind::general);
        m = TranslationModel(spec, m->source_vocab, m->target_vocab);
      }
      test::TempDir dir;
      exporting::export_translation_model(m, dir.file("t.pt"));
      auto module = exporting::load_export(dir.file("t.pt"));
      exporting::InferenceGuard guard;
      const std::vector<std::string> sentences{"el perro come .", "¿ dónde está la casa ?", "sí sí", "desconocido"};
      for (int64_t beam : {1, 3}) {
        TranslateOptions o;
        o.beam = beam;
        auto expected = translate(m, sentences, o, torch::kCPU);
        for (size_t i = 0; i < sentences.size(); ++i) {
          auto got = module.get_method("translate")({sentences[i], beam}).toStringRef();
          EXPECT_EQ(got, expected[i].texts[0]) << data::to_string(units) << " " << nn::to_string(cell) << " beam " << beam
                                               << ": " << sentences[i];
        }
      }
    }
  }
}

TEST(TranslationTask, LearnsTheDatesTask) {
  torch::manual_seed(5);
  auto train_pairs = data::generate_toy_task("dates", 3000, 1, data::ToySplit::train);
  auto test_pairs = data::generate_toy_task("dates", 100, 2, data::ToySplit::test);
  ModelSpec spec;
  spec.seq2seq.embedding_size(32).hidden_size(64).dropout(0.0);
  std::vector<std::vector<std::string>> src, tgt;
  for (const auto& p : train_pairs) {
    src.push_back(data::tokenize(p.source, spec.units));
    tgt.push_back(data::tokenize(p.target, spec.units));
  }
  TranslationModel m(spec, data::TokenVocabulary::build(src, 1, 0), data::TokenVocabulary::build(tgt, 1, 0));
  std::vector<EncodedPair> enc, valid;
  for (const auto& p : train_pairs) enc.push_back({m->encode_source(p.source), m->encode_target(p.target)});
  for (const auto& p : test_pairs) valid.push_back({m->encode_source(p.source), m->encode_target(p.target)});
  TaskOptions o;
  o.batch_size = 32;
  o.decode_sentences = 100;
  TranslationTask task(m, enc, valid, test_pairs, o, torch::kCPU);
  torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(3e-3));
  train::LrSchedule schedule(3e-3, train::ScheduleOptions{});
  train::TrainerOptions to;
  to.epochs = 6;
  to.quiet = true;
  auto result = train::train(task, opt, schedule, to);
  EXPECT_GT(result.best_metrics.at("exact_match"), 0.9);
  TranslateOptions beam;
  beam.beam = 4;
  std::vector<std::string> sources, references, hypotheses;
  for (const auto& p : test_pairs) {
    sources.push_back(p.source);
    references.push_back(p.target);
  }
  for (const auto& t : translate(m, sources, beam, torch::kCPU)) hypotheses.push_back(t.texts[0]);
  EXPECT_GE(score_translations(hypotheses, references).at("exact_match"), 0.9);
}

}  // namespace
}  // namespace seqtorch::translate
