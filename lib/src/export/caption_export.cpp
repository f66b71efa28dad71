#include <seqtorch/export/caption_export.h>
#include <seqtorch/export/script_module.h>

#include <torch/torch.h>

namespace seqtorch::exporting {

torch::jit::Module script_caption_model(caption::CaptionModel& model, const caption::DescribeOptions& defaults) {
  caption::check(defaults);
  TORCH_CHECK(model->captioner, "export: this model is the alignment model (--decoder align); only captioners export");
  model->eval();
  auto& cap = model->captioner;
  const int64_t S = cap->options.image_size();
  auto jm = mirror_module(*model, "CaptionModel");
  const auto images = torch::randint(0, 256, {2, 3, S, S}).to(torch::kFloat);
  add_traced_method(jm, "encode", {"images"}, {images}, [&](const std::vector<torch::Tensor>& in) {
    const auto features = cap->encode(cap->normalize(in[0]));
    const auto init = cap->initial_state(features);
    const auto memory = cap->memory(features);
    return std::vector<torch::Tensor>{init.rnn.h, init.rnn.c, memory.values, memory.keys,
                                      torch::ones_like(memory.values.select(2, 0), torch::kBool)};
  });
  torch::Tensor h, c, values, keys, mask;
  {
    torch::NoGradGuard no_grad;
    const auto features = cap->encode(cap->normalize(images));
    const auto init = cap->initial_state(features);
    const auto memory = cap->memory(features);
    h = init.rnn.h;
    c = init.rnn.c;
    values = memory.values;
    keys = memory.keys;
    mask = torch::ones_like(values.select(2, 0), torch::kBool);
  }
  const auto tokens = torch::full({2}, data::TokenVocabulary::bos, torch::kLong);
  const auto feed = torch::zeros({2, 1});
  add_traced_method(jm, "decode_step", {"tokens", "h", "c", "feed", "values", "keys", "mask"},
                    {tokens, h, c, feed, values, keys, mask}, [&](const std::vector<torch::Tensor>& in) {
                      auto out = cap->step(in[0], nn::CaptionState{{in[1], in[2]}}, nn::AttentionMemory{in[4], in[5], torch::Tensor()});
                      auto attention = out.attention.defined() ? out.attention : torch::zeros_like(in[4].select(2, 0));
                      return std::vector<torch::Tensor>{torch::log_softmax(out.logits, -1), out.state.rnn.h,
                                                        out.state.rnn.c, in[3], attention};
                    });
  c10::List<std::string> vocab;
  for (const auto& t : model->vocab.tokens()) vocab.push_back(t);
  jm.register_attribute("vocab", c10::ListType::ofStrings(), vocab);
  jm.register_attribute("image_size", c10::IntType::get(), S);
  jm.register_attribute("max_length", c10::IntType::get(), defaults.max_length);
  jm.register_attribute("length_penalty", c10::FloatType::get(), defaults.length_penalty);
  define_beam_search(jm);
  jm.define(R"(
def preprocess(self, image: Tensor) -> Tensor:
    x = image
    if x.dim() == 3:
        x = x.unsqueeze(0)
    assert x.dim() == 4, "describe: expected an image [3, H, W] or a batch [B, 3, H, W]"
    if x.size(1) == 1:
        x = x.expand(-1, 3, -1, -1)
    assert x.size(1) == 3, "describe: expected 1 or 3 channels"
    if x.is_floating_point():
        x = x.float() * 255.0
    else:
        x = x.float()
    s = self.image_size
    if x.size(2) != s or x.size(3) != s:
        if x.size(2) >= s and x.size(3) >= s:
            x = torch.adaptive_avg_pool2d(x, [s, s])
        else:
            x = torch.upsample_bilinear2d(x, [s, s], False, None, None)
    return torch.floor(x + 0.5).clamp(0.0, 255.0)

def words(self, ids: List[int]) -> str:
    text = ""
    for i in ids:
        if i == 3:
            break
        if i == 0 or i == 2:
            continue
        if text != "":
            text += " "
        text += self.vocab[i]
    return text

def describe(self, image: Tensor, beam: int) -> List[str]:
    assert beam >= 1, "beam: expected >= 1"
    x = self.preprocess(image)
    enc = self.encode(x)
    captions: List[str] = []
    for b in range(x.size(0)):
        h = enc[0][:, b:b + 1]
        c = enc[1][:, b:b + 1]
        values = enc[2][b:b + 1]
        keys = enc[3][b:b + 1]
        mask = enc[4][b:b + 1]
        feed = values.new_zeros([1, 1])
        out = self.decode_step(torch.tensor([2]), h, c, feed, values, keys, mask)
        ids = self.search(out[0], out[1], out[2], out[3], values, keys, mask, beam, self.max_length + 1)
        captions.append(self.words(ids))
    return captions
)");
  return jm;
}

void export_caption_model(caption::CaptionModel& model, const std::string& path, const caption::DescribeOptions& defaults) {
  save_module(script_caption_model(model, defaults), path);
}

}  // namespace seqtorch::exporting
