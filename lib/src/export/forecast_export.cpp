#include <seqtorch/export/forecast_export.h>
#include <seqtorch/export/script_module.h>

#include <torch/torch.h>

namespace seqtorch::exporting {

torch::jit::Module script_forecaster(forecast::Forecaster& model,
                                     const std::vector<std::string>& names) {
  const auto& o = model->options;
  TORCH_CHECK(static_cast<int64_t>(names.size()) == o.targets() + o.covariates(),
              "export: ", names.size(), " column names for a model of ",
              o.targets() + o.covariates(), " columns");
  model->eval();
  auto jm = mirror_module(*model, "Forecaster");
  const auto param = model->parameters().front();
  // Example: 2 windows of the trained length; the graph stays generic in B and L.
  const torch::Tensor example =
      torch::randn({2, model->input_window(), o.targets() + o.covariates()}, param.options()) *
          model->scaler_scale + model->scaler_shift;
  add_traced_method(jm, "forecast", {"window"}, {example},
                    [&](const std::vector<torch::Tensor>& in) { return std::vector<torch::Tensor>{model->forward(in[0]).mean}; });
  if (model->has_variance())
    add_traced_method(jm, "variance", {"window"}, {example},
                      [&](const std::vector<torch::Tensor>& in) { return std::vector<torch::Tensor>{model->forward(in[0]).variance}; });
  jm.register_attribute("window", c10::IntType::get(), model->input_window());
  jm.register_attribute("horizon", c10::IntType::get(), o.horizon());
  jm.register_attribute("targets", c10::IntType::get(), o.targets());
  jm.register_attribute("season", c10::IntType::get(), o.season());
  jm.register_attribute("ensemble", c10::IntType::get(), o.ensemble());
  jm.register_attribute("relative", c10::StringType::get(), forecast::form_name(o));
  c10::List<std::string> list;
  for (const auto& n : names) list.push_back(n);
  jm.register_attribute("names", c10::ListType::ofStrings(), list);
  jm.define(R"(
def forward(self, window: Tensor) -> Tensor:
    if window.dim() == 2:
        return self.forecast(window.unsqueeze(0)).squeeze(0)
    return self.forecast(window)
)");
  return jm;
}

void export_forecaster(forecast::Forecaster& model, const std::vector<std::string>& names,
                       const std::string& path) {
  save_module(script_forecaster(model, names), path);
}

}  // namespace seqtorch::exporting
