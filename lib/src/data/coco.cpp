#include <seqtorch/data/coco.h>
#include <seqtorch/data/images.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_map>
#include <unordered_set>

namespace seqtorch::data {

using nlohmann::json;

size_t CaptionDataset::caption_count() const {
  size_t n = 0;
  for (const auto& image : images) n += image.captions.size();
  return n;
}

namespace {

// "images[3]" style names of JSON places for the error messages.
std::string at(const std::string& array, size_t index) { return array + "[" + std::to_string(index) + "]"; }

const json& member(const json& object, const char* key, const std::string& where, const std::string& origin) {
  TORCH_CHECK(object.is_object(), origin, ": not COCO captions JSON: ", where, " is not an object");
  auto it = object.find(key);
  TORCH_CHECK(it != object.end(), origin, ": not COCO captions JSON: ", where, " has no '", key, "'");
  return *it;
}

const json& array_member(const json& object, const char* key, const std::string& where, const std::string& origin) {
  const json& value = member(object, key, where, origin);
  TORCH_CHECK(value.is_array(), origin, ": not COCO captions JSON: '", key, "' of ", where, " is not a list");
  return value;
}

std::string string_member(const json& object, const char* key, const std::string& where, const std::string& origin) {
  const json& value = member(object, key, where, origin);
  TORCH_CHECK(value.is_string(), origin, ": not COCO captions JSON: '", key, "' of ", where, " is not a string");
  return value.get<std::string>();
}

int64_t id_member(const json& object, const char* key, const std::string& where, const std::string& origin) {
  const json& value = member(object, key, where, origin);
  TORCH_CHECK(value.is_number_integer(), origin, ": not COCO captions JSON: '", key, "' of ", where, " is not an integer");
  return value.get<int64_t>();
}

std::string checked_caption(const std::string& caption, const std::string& where, const std::string& origin) {
  TORCH_CHECK(!caption_words(caption).empty(), origin, ": ", where, " has an empty caption");
  return caption;
}

void read_objects(const json& entry, CaptionedImage& image) {
  auto it = entry.find("seqtorch_objects");
  if (it == entry.end() || !it->is_array()) return;
  for (const auto& o : *it) {
    if (!o.is_object() || !o.contains("bbox") || !o["bbox"].is_array() || o["bbox"].size() != 4) continue;
    SceneObject s;
    s.shape = o.value("shape", "");
    s.color = o.value("color", "");
    s.size = o.value("size", "");
    s.x = o["bbox"][0].get<int64_t>();
    s.y = o["bbox"][1].get<int64_t>();
    s.width = o["bbox"][2].get<int64_t>();
    s.height = o["bbox"][3].get<int64_t>();
    image.objects.push_back(s);
  }
}

CaptionDataset parse_karpathy(const json& images, const std::string& origin, const std::string& split) {
  CaptionDataset data;
  for (size_t i = 0; i < images.size(); ++i) {
    const json& entry = images[i];
    const std::string where = at("images", i);
    const std::string image_split = entry.is_object() && entry.contains("split") && entry["split"].is_string()
                                        ? entry["split"].get<std::string>() : "train";
    const std::string effective = image_split == "restval" ? "train" : image_split;
    if (split != "all" && effective != split) continue;
    CaptionedImage image;
    image.file = string_member(entry, "filename", where, origin);
    if (entry.contains("filepath") && entry["filepath"].is_string() && !entry["filepath"].get<std::string>().empty())
      image.file = util::join_path(entry["filepath"].get<std::string>(), image.file);
    image.id = entry.contains("cocoid") && entry["cocoid"].is_number_integer() ? entry["cocoid"].get<int64_t>()
             : entry.contains("imgid") && entry["imgid"].is_number_integer() ? entry["imgid"].get<int64_t>()
             : static_cast<int64_t>(i);
    const json& sentences = array_member(entry, "sentences", where, origin);
    for (size_t k = 0; k < sentences.size(); ++k) {
      const std::string swhere = where + ".sentences[" + std::to_string(k) + "]";
      image.captions.push_back(checked_caption(string_member(sentences[k], "raw", swhere, origin), swhere, origin));
    }
    if (!image.captions.empty()) data.images.push_back(std::move(image));
  }
  return data;
}

}  // namespace

CaptionDataset parse_caption_json(const std::string& text, const std::string& origin, const std::string& split) {
  TORCH_CHECK(split == "all" || split == "train" || split == "val" || split == "test",
              "split: expected train, val, test or all, got '", split, "'");
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    TORCH_CHECK(false, origin, ": invalid JSON (", e.what(), ")");
  }
  TORCH_CHECK(root.is_object(), origin, ": not COCO captions JSON: the top level is not an object");
  const std::string top = "the top level";
  const json& images = array_member(root, "images", top, origin);
  CaptionDataset data;
  if (!root.contains("annotations") && !images.empty() && images[0].is_object() && images[0].contains("sentences")) {
    data = parse_karpathy(images, origin, split);
  } else {
    const json& annotations = array_member(root, "annotations", top, origin);
    std::unordered_map<int64_t, size_t> index;
    std::vector<CaptionedImage> all;
    for (size_t i = 0; i < images.size(); ++i) {
      const std::string where = at("images", i);
      CaptionedImage image;
      image.id = id_member(images[i], "id", where, origin);
      image.file = string_member(images[i], "file_name", where, origin);
      TORCH_CHECK(!image.file.empty(), origin, ": ", where, " has an empty 'file_name'");
      read_objects(images[i], image);
      TORCH_CHECK(index.emplace(image.id, all.size()).second, origin, ": image id ", image.id, " appears twice");
      all.push_back(std::move(image));
    }
    for (size_t i = 0; i < annotations.size(); ++i) {
      const std::string where = at("annotations", i);
      const int64_t id = id_member(annotations[i], "image_id", where, origin);
      auto it = index.find(id);
      TORCH_CHECK(it != index.end(), origin, ": ", where, " refers to image id ", id, ", which 'images' does not list");
      all[it->second].captions.push_back(checked_caption(string_member(annotations[i], "caption", where, origin), where, origin));
    }
    for (auto& image : all)
      if (!image.captions.empty()) data.images.push_back(std::move(image));
  }
  TORCH_CHECK(!data.images.empty(), origin, ": no captioned image", split == "all" ? "" : " in split " + split);
  return data;
}

CaptionDataset read_caption_json(const std::string& path, const std::string& split) {
  return parse_caption_json(util::read_file(path), path, split);
}

void write_caption_json(const std::string& path, const CaptionDataset& data) {
  json images = json::array(), annotations = json::array();
  int64_t annotation_id = 1;
  for (const auto& image : data.images) {
    json entry = {{"id", image.id}, {"file_name", image.file}};
    if (!image.objects.empty()) {
      json objects = json::array();
      for (const auto& o : image.objects)
        objects.push_back({{"shape", o.shape}, {"color", o.color}, {"size", o.size}, {"bbox", {o.x, o.y, o.width, o.height}}});
      entry["seqtorch_objects"] = objects;
    }
    images.push_back(entry);
    for (const auto& caption : image.captions)
      annotations.push_back({{"id", annotation_id++}, {"image_id", image.id}, {"caption", caption}});
  }
  json root = {{"info", {{"description", "seqtorch captions"}}}, {"images", images}, {"annotations", annotations}};
  util::write_file_atomically(path, root.dump(1) + "\n");
}

std::pair<CaptionDataset, CaptionDataset> hold_out(CaptionDataset data, double fraction, size_t max_held_out, uint64_t seed) {
  TORCH_CHECK(fraction > 0 && fraction < 1, "held-out fraction: expected in (0, 1), got ", fraction);
  TORCH_CHECK(data.images.size() >= 2, "at least 2 captioned images are needed to hold some out, got ", data.images.size());
  std::mt19937_64 rng(seed);
  std::shuffle(data.images.begin(), data.images.end(), rng);
  const size_t held = std::min(std::max<size_t>(1, max_held_out),
                               std::max<size_t>(1, static_cast<size_t>(fraction * static_cast<double>(data.images.size()))));
  CaptionDataset valid;
  valid.images.assign(data.images.end() - static_cast<std::ptrdiff_t>(held), data.images.end());
  data.images.resize(data.images.size() - held);
  return {std::move(data), std::move(valid)};
}

std::string image_path(const std::string& image_dir, const CaptionedImage& image) {
  return image_dir.empty() ? image.file : util::join_path(image_dir, image.file);
}

void check_image_files(const CaptionDataset& data, const std::string& image_dir, const std::string& json_path) {
  for (const auto& image : data.images) {
    const auto path = image_path(image_dir, image);
    TORCH_CHECK(util::path_exists(path) && !util::is_directory(path), path, ": image file missing (image id ",
                image.id, " of ", json_path, ")");
  }
}

std::vector<std::string> caption_words(const std::string& caption) {
  std::vector<std::string> words;
  std::string word;
  for (unsigned char ch : caption) {
    if (std::isalnum(ch) || ch == '\'' || ch >= 0x80) {
      word += static_cast<char>(std::tolower(ch));
    } else if (!word.empty()) {
      words.push_back(word);
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(word);
  // A lone apostrophe (quotes) is not a word.
  words.erase(std::remove(words.begin(), words.end(), "'"), words.end());
  return words;
}

// ---- built-in scenes ----------------------------------------------------------------------

namespace {

struct Colour {
  const char* name;
  int r, g, b;
};
const Colour kColours[] = {{"red", 220, 40, 40},    {"green", 40, 180, 60}, {"blue", 50, 90, 235},
                           {"yellow", 230, 210, 40}, {"white", 240, 240, 240}, {"purple", 150, 60, 200}};
const char* kShapes[] = {"circle", "square", "triangle"};

struct Placed {
  int shape, colour;
  bool large;
  double cx, cy, r;  // centre and half extent, pixels
};

bool inside(const Placed& p, double x, double y) {
  const double dx = x - p.cx, dy = y - p.cy;
  switch (p.shape) {
    case 0: return dx * dx + dy * dy <= p.r * p.r;
    case 1: return std::abs(dx) <= p.r * 0.85 && std::abs(dy) <= p.r * 0.85;
    default: {  // upward triangle with its base at cy + r and apex at cy - r
      if (dy < -p.r || dy > p.r) return false;
      const double half = p.r * (dy + p.r) / (2 * p.r);
      return std::abs(dx) <= half;
    }
  }
}

std::string describe_one(const Placed& p, bool with_size) {
  std::string s = with_size ? (p.large ? "large " : "small ") : "";
  return s + kColours[p.colour].name + " " + kShapes[p.shape];
}

}  // namespace

CaptionDataset generate_scenes(int64_t count, int64_t size, uint64_t seed) {
  TORCH_CHECK(count >= 1, "scenes: count must be >= 1, got ", count);
  TORCH_CHECK(size >= 16, "scenes: size must be >= 16 pixels, got ", size);
  std::mt19937_64 rng(seed);
  auto uniform = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  CaptionDataset data;
  const double S = static_cast<double>(size);
  for (int64_t n = 0; n < count; ++n) {
    CaptionedImage image;
    image.id = n + 1;
    image.file = "images/" + std::string(6 - std::min<size_t>(6, std::to_string(n + 1).size()), '0') + std::to_string(n + 1) +
                 (n % 5 == 4 ? ".jpg" : ".png");
    std::vector<Placed> objects;
    const bool two = pick(2) == 1;
    auto make = [&](double cx, double cy, double scale) {
      Placed p;
      p.shape = pick(3);
      p.colour = pick(6);
      p.large = pick(2) == 1;
      p.r = S * (p.large ? 0.2 : 0.11) * scale;
      p.cx = cx + uniform(-0.05, 0.05) * S;
      p.cy = cy + uniform(-0.05, 0.05) * S;
      return p;
    };
    std::vector<std::string>& caps = image.captions;
    if (!two) {
      static const char* where[] = {"left", "right", "top", "bottom", "middle"};
      static const double cx[] = {0.25, 0.75, 0.5, 0.5, 0.5}, cy[] = {0.5, 0.5, 0.25, 0.75, 0.5};
      static const char* phrase[] = {"on the left", "on the right", "at the top", "at the bottom", "in the middle"};
      const int w = pick(5);
      objects.push_back(make(cx[w] * S, cy[w] * S, 1.0));
      const auto& p = objects[0];
      (void)where;
      caps.push_back("a " + describe_one(p, true) + " " + phrase[w]);
      caps.push_back("a " + describe_one(p, false));
      caps.push_back("there is a " + describe_one(p, true) + " " + phrase[w]);
      caps.push_back("a " + std::string(kShapes[p.shape]) + " in " + kColours[p.colour].name + " " + phrase[w]);
      caps.push_back("the image shows a " + describe_one(p, true));
    } else {
      const bool horizontal = pick(2) == 1;
      Placed a = make(horizontal ? 0.27 * S : 0.5 * S, horizontal ? 0.5 * S : 0.27 * S, 0.9);
      Placed b = make(horizontal ? 0.73 * S : 0.5 * S, horizontal ? 0.5 * S : 0.73 * S, 0.9);
      while (b.shape == a.shape && b.colour == a.colour) b.colour = pick(6);
      objects = {a, b};
      const std::string A = describe_one(a, false), B = describe_one(b, false);
      if (horizontal) {
        caps.push_back("a " + A + " and a " + B);
        caps.push_back("a " + A + " to the left of a " + B);
        caps.push_back("a " + B + " to the right of a " + A);
        caps.push_back("a " + describe_one(a, true) + " next to a " + describe_one(b, true));
        caps.push_back("there is a " + A + " on the left and a " + B + " on the right");
      } else {
        caps.push_back("a " + A + " and a " + B);
        caps.push_back("a " + A + " above a " + B);
        caps.push_back("a " + B + " below a " + A);
        caps.push_back("a " + describe_one(a, true) + " over a " + describe_one(b, true));
        caps.push_back("there is a " + A + " at the top and a " + B + " at the bottom");
      }
    }
    for (const auto& p : objects) {
      SceneObject o;
      o.shape = kShapes[p.shape];
      o.color = kColours[p.colour].name;
      o.size = p.large ? "large" : "small";
      o.x = std::max<int64_t>(0, static_cast<int64_t>(std::floor(p.cx - p.r)));
      o.y = std::max<int64_t>(0, static_cast<int64_t>(std::floor(p.cy - p.r)));
      o.width = std::min<int64_t>(size, static_cast<int64_t>(std::ceil(p.cx + p.r))) - o.x;
      o.height = std::min<int64_t>(size, static_cast<int64_t>(std::ceil(p.cy + p.r))) - o.y;
      image.objects.push_back(o);
    }
    data.images.push_back(std::move(image));
  }
  return data;
}

namespace {

torch::Tensor render(const std::vector<SceneObject>& objects, int64_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 6.0);
  const int base = 30 + static_cast<int>(rng() % 40);  // background grey level
  auto image = torch::empty({size, size, 3}, torch::kUInt8);
  auto* px = image.data_ptr<uint8_t>();
  std::vector<Placed> placed;
  for (const auto& o : objects) {
    Placed p;
    p.shape = static_cast<int>(std::find(std::begin(kShapes), std::end(kShapes), o.shape) - std::begin(kShapes));
    p.colour = 0;
    for (int c = 0; c < 6; ++c)
      if (o.color == kColours[c].name) p.colour = c;
    p.r = o.width / 2.0;
    p.cx = o.x + o.width / 2.0;
    p.cy = o.y + o.height / 2.0;
    placed.push_back(p);
  }
  for (int64_t y = 0; y < size; ++y)
    for (int64_t x = 0; x < size; ++x) {
      int rgb[3] = {base, base, base};
      for (const auto& p : placed)
        if (inside(p, x + 0.5, y + 0.5)) {
          rgb[0] = kColours[p.colour].r;
          rgb[1] = kColours[p.colour].g;
          rgb[2] = kColours[p.colour].b;
        }
      for (int c = 0; c < 3; ++c)
        px[(y * size + x) * 3 + c] = static_cast<uint8_t>(std::clamp(static_cast<int>(rgb[c] + noise(rng)), 0, 255));
    }
  return image;
}

}  // namespace

int64_t write_scenes(const std::string& out_dir, int64_t count, int64_t size, uint64_t seed) {
  auto data = generate_scenes(count, size, seed);
  util::create_directories(util::join_path(out_dir, "images"));
  for (const auto& image : data.images)
    write_image(util::join_path(out_dir, image.file), render(image.objects, size, seed * 7919 + static_cast<uint64_t>(image.id)));
  const size_t n = data.images.size(), train_end = n * 8 / 10, val_end = n * 9 / 10;
  CaptionDataset train, val, test;
  for (size_t i = 0; i < n; ++i)
    (i < train_end ? train : i < val_end ? val : test).images.push_back(data.images[i]);
  write_caption_json(util::join_path(out_dir, "captions_all.json"), data);
  write_caption_json(util::join_path(out_dir, "captions_train.json"), train);
  if (!val.images.empty()) write_caption_json(util::join_path(out_dir, "captions_val.json"), val);
  if (!test.images.empty()) write_caption_json(util::join_path(out_dir, "captions_test.json"), test);
  return static_cast<int64_t>(n);
}

}  // namespace seqtorch::data
