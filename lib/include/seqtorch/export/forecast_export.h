#pragma once
// TorchScript export of a Forecaster. The archive's methods:
//   forward(window: Tensor) -> Tensor     [L, C+K] -> [H, C], or [B, L, C+K] -> [B, H, C], both
//                                         in original units (the scaler is inside); any L >= 1
//                                         (relative season: L >= m; deseason: L >= floor(L0/m) m
//                                         for the trained L0, of which it reads the last ones;
//                                         a combination: L >= its longest part's window)
//   forecast(window: Tensor) -> Tensor    the traced batch form [B, L, C+K] -> [B, H, C]
//   variance(window: Tensor) -> Tensor    (gaussian models) forecast variance, units^2 (of an
//                                         ensemble: mean member variance + members' spread)
// and attributes `window` (L trained on; a combination's longest part's), `horizon`, `names`
// (targets then covariates), `targets` (C), `season` (m), `ensemble` (members), `relative` (the
// form's name; a combination's forms joined by commas).
#include <seqtorch/forecast/forecaster.h>

#include <torch/script.h>


namespace seqtorch::exporting {

/// The scripted module (the model is switched to eval mode).
torch::jit::Module script_forecaster(forecast::Forecaster& model,
                                     const std::vector<std::string>& names);

/// script_forecaster, saved atomically to `path`.
void export_forecaster(forecast::Forecaster& model, const std::vector<std::string>& names,
                       const std::string& path);

}  // namespace seqtorch::exporting
