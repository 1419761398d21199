#include "bench/prepared_case.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tensorops::bench {
namespace {

std::map<std::string, absl::Status>& MutableAgreementByCase() {
  static auto* agreement = new std::map<std::string, absl::Status>();
  return *agreement;
}

// Fills everything but `status`, which it returns.
absl::Status Prepare(const BenchCase& bench_case, Backend& backend,
                     PreparedCase& prepared) {
  absl::StatusOr<CaseInputs> inputs = MakeCaseInputs(bench_case, backend);
  if (!inputs.ok()) return inputs.status();
  prepared.ours = *std::move(inputs);

  absl::StatusOr<Tensor> ours = RunOurs(bench_case, prepared.ours, backend);
  if (!ours.ok()) {
    return absl::Status(ours.status().code(),
                        absl::StrCat("ours: ", ours.status().message()));
  }
#if TENSOROPS_BENCH_WITH_TORCH
  absl::StatusOr<TorchInputs> torch_inputs =
      ToTorchInputs(bench_case, prepared.ours);
  if (!torch_inputs.ok()) return torch_inputs.status();
  prepared.torch = *std::move(torch_inputs);

  absl::StatusOr<at::Tensor> torch = RunTorch(bench_case, prepared.torch);
  if (!torch.ok()) return torch.status();
  prepared.agreement = CompareWithTorch(*ours, *torch);
#else
  prepared.agreement =
      absl::UnavailableError("not checked: built without libtorch");
#endif
  return absl::OkStatus();
}

}  // namespace

const std::map<std::string, absl::Status>& AgreementByCase() {
  return MutableAgreementByCase();
}

const PreparedCase& PrepareCase(const BenchCase& bench_case, Backend& backend) {
  static std::string current_name;
  static std::unique_ptr<PreparedCase> current;
  if (current == nullptr || current_name != bench_case.name) {
    current.reset();  // release the previous case's tensors first
    current = std::make_unique<PreparedCase>();
    current->status = Prepare(bench_case, backend, *current);
    current_name = bench_case.name;
    if (current->status.ok()) {
      MutableAgreementByCase()[bench_case.name] = current->agreement;
    }
  }
  return *current;
}

}  // namespace tensorops::bench
