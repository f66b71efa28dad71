#include <seqtorch/caption/model.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/data/coco.h>
#include <seqtorch/util/file_system.h>
#include <seqtorch/util/spec_text.h>

#include <torch/script.h>
#include <torch/torch.h>

#include <sstream>

namespace seqtorch::caption {

namespace {

std::string join(const std::vector<double>& values) {
  std::ostringstream out;
  out.precision(17);
  for (size_t i = 0; i < values.size(); ++i) out << (i ? " " : "") << values[i];
  return out.str();
}

std::vector<double> split_doubles(const std::string& text) {
  std::istringstream in(text);
  std::vector<double> values;
  double x = 0;
  while (in >> x) values.push_back(x);
  return values;
}

torch::jit::Module load_backbone_bytes(const std::string& bytes, const std::string& origin) {
  std::istringstream in(bytes);
  try {
    return torch::jit::load(in, torch::kCPU);
  } catch (const c10::Error& e) {
    const std::string first_line = e.msg().substr(0, e.msg().find('\n'));
    TORCH_CHECK(false, origin, ": not a TorchScript archive (", first_line, ")");
  }
}

}  // namespace

std::string ModelSpec::serialize() const {
  const auto& o = captioner;
  std::ostringstream out;
  out.precision(17);
  out << "image_size = " << o.image_size() << "\n"
      << "channels = " << o.channels() << "\n"
      << "stages = " << o.stages() << "\n"
      << "embedding_size = " << o.embedding_size() << "\n"
      << "hidden_size = " << o.hidden_size() << "\n"
      << "attention_size = " << o.attention_size() << "\n"
      << "decoder = " << nn::to_string(o.decoder()) << "\n"
      << "dropout = " << o.dropout() << "\n"
      << "mean = " << join(o.mean()) << "\n"
      << "std = " << join(o.std()) << "\n";
  return out.str();
}

ModelSpec ModelSpec::parse(const std::string& text) {
  const util::KeyValues kv(text, "caption model description");
  ModelSpec s;
  s.captioner.image_size(kv.get_int("image_size"))
      .channels(kv.get_int("channels"))
      .stages(kv.get_int("stages"))
      .embedding_size(kv.get_int("embedding_size"))
      .hidden_size(kv.get_int("hidden_size"))
      .attention_size(kv.get_int("attention_size"))
      .decoder(nn::parse_caption_decoder(kv.get("decoder")))
      .dropout(kv.get_double("dropout"))
      .mean(split_doubles(kv.get("mean")))
      .std(split_doubles(kv.get("std")));
  return s;
}

data::TokenVocabulary build_vocabulary(const std::vector<std::string>& captions, int64_t min_count, int64_t max_size) {
  std::vector<std::vector<std::string>> words;
  words.reserve(captions.size());
  for (const auto& c : captions) words.push_back(data::caption_words(c));
  return data::TokenVocabulary::build(words, min_count, max_size);
}

CaptionModelImpl::CaptionModelImpl(const ModelSpec& s, data::TokenVocabulary v, const std::string& backbone)
    : spec(s), vocab(std::move(v)) {
  spec.captioner.vocab_size(vocab.size()).pad(data::TokenVocabulary::pad);
  if (spec.captioner.decoder() == nn::CaptionDecoder::align) {
    aligner = backbone.empty() ? nn::Aligner(spec.captioner)
                               : nn::Aligner(spec.captioner, load_backbone_bytes(backbone, "backbone"));
    register_module("aligner", aligner);
  } else {
    captioner = backbone.empty() ? nn::Captioner(spec.captioner)
                                 : nn::Captioner(spec.captioner, load_backbone_bytes(backbone, "backbone"));
    register_module("captioner", captioner);
  }
  spec_text = register_buffer("spec_text", util::bytes_tensor(spec.serialize()));
  vocab_tokens = register_buffer("vocab_tokens", vocab.to_tensor());
  backbone_archive = register_buffer("backbone_archive", util::bytes_tensor(backbone));
}

nn::ImageEncoder& CaptionModelImpl::encoder() { return captioner ? captioner->encoder : aligner->encoder; }

std::vector<std::string> CaptionModelImpl::initialise_from(CaptionModelImpl& other) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> copied;
  auto mine = encoder()->named_parameters(true);
  auto theirs = other.encoder()->named_parameters(true);
  auto my_buffers = encoder()->named_buffers(true);
  auto their_buffers = other.encoder()->named_buffers(true);
  TORCH_CHECK(mine.size() == theirs.size() && my_buffers.size() == their_buffers.size(),
              "initialising the encoder: the two models' encoders differ (image size, channels, stages, backbone)");
  for (const auto& p : mine) {
    const auto* q = theirs.find(p.key());
    TORCH_CHECK(q != nullptr && q->sizes() == p.value().sizes(), "initialising the encoder: '", p.key(),
                "' differs between the two models (image size, channels, stages, backbone)");
    p.value().copy_(*q);
  }
  for (const auto& b : my_buffers) {
    const auto* q = their_buffers.find(b.key());
    TORCH_CHECK(q != nullptr && q->sizes() == b.value().sizes(), "initialising the encoder: buffer '", b.key(), "' differs");
    b.value().copy_(*q);
  }
  copied.push_back("encoder");
  // The word embedding, when both vocabularies are the same words and widths agree.
  auto& my_embedding = captioner ? captioner->embedding : aligner->embedding;
  auto& their_embedding = other.captioner ? other.captioner->embedding : other.aligner->embedding;
  if (vocab.tokens() == other.vocab.tokens() && my_embedding->weight.sizes() == their_embedding->weight.sizes()) {
    my_embedding->weight.copy_(their_embedding->weight);
    copied.push_back("embedding");
  }
  return copied;
}

std::vector<int64_t> CaptionModelImpl::encode_caption(const std::string& caption) const {
  return vocab.encode(data::caption_words(caption));
}

std::string CaptionModelImpl::decode_caption(const std::vector<int64_t>& ids) const {
  std::string text;
  for (const auto& w : vocab.decode(ids)) text += (text.empty() ? "" : " ") + w;
  return text;
}

std::string read_backbone(const std::string& path) {
  auto bytes = util::read_file(path);
  load_backbone_bytes(bytes, path);  // a clear error now rather than later
  return bytes;
}

CaptionModel model_of_checkpoint(const std::string& path) {
  torch::serialize::InputArchive archive = train::open_checkpoint(path), model;  // checked, CPU
  torch::Tensor spec, vocab, backbone;
  TORCH_CHECK(archive.try_read("model", model) && model.try_read("spec_text", spec, true) &&
                  model.try_read("vocab_tokens", vocab, true) && model.try_read("backbone_archive", backbone, true),
              "checkpoint ", path, ": holds no captioning model (not a seqtorch-caption checkpoint?)");
  return CaptionModel(ModelSpec::parse(util::tensor_bytes(spec)), data::TokenVocabulary::from_tensor(vocab),
                      util::tensor_bytes(backbone));
}

}  // namespace seqtorch::caption
