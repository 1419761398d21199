#include "bench/results_table.h"

#include <unistd.h>

#include <ctime>
#include <fstream>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "bench/prepared_case.h"
#include "core/cpu/cpu_features.h"

namespace tensorops::bench {
namespace {

std::string CpuModel() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    absl::string_view rest(line);
    if (!absl::ConsumePrefix(&rest, "model name")) continue;
    const size_t colon = rest.find(':');
    if (colon == absl::string_view::npos) continue;
    return std::string(absl::StripAsciiWhitespace(rest.substr(colon + 1)));
  }
  return "unknown";
}

// Other work on the machine shows up in real time: worth printing with it.
std::string LoadAverage() {
  std::ifstream loadavg("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(loadavg >> one >> five >> fifteen)) return "unknown";
  return absl::StrCat(one, " ", five, " ", fifteen);
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm utc;
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &utc);
  return text;
}

// Enough digits for both 2268 ms and 0.0004 ms.
std::string FormatMs(double ms) {
  return ms >= 1000 ? absl::StrFormat("%.0f", ms) : absl::StrFormat("%.4g", ms);
}

// A side's cell: its median, its error, or "-" when it did not run.
std::string Cell(const MedianReporter& results, const std::string& name,
                 const std::optional<double>& ms) {
  if (ms.has_value()) return FormatMs(*ms);
  const std::string error = results.Error(name);
  return error.empty() ? "-" : absl::StrCat("error: ", error);
}

std::string AgreementCell(const std::map<std::string, absl::Status>& agreement,
                          const std::string& case_name) {
  const auto it = agreement.find(case_name);
  if (it == agreement.end()) return "-";
  if (it->second.ok()) return "same";
  if (!Disagrees(it->second)) return "not checked";
  return absl::StrCat("DIFFERS: ", it->second.message());
}

}  // namespace

std::string OursName(const BenchCase& bench_case) {
  return absl::StrCat(bench_case.name, "/ours");
}

std::string TorchName(const BenchCase& bench_case) {
  return absl::StrCat(bench_case.name, "/torch");
}

std::string FloorName(const BenchCase& bench_case) {
  return absl::StrCat(bench_case.name, "/floor");
}

RunDescription DescribeRun(const BenchOptions& options,
                           std::string libtorch_version) {
  RunDescription description;
  description.online_cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  description.cpu_model = CpuModel();
  description.date_utc = UtcNow();
  description.load_average = LoadAverage();
  description.libtorch = std::move(libtorch_version);
  description.kernels = cpu::KernelIsaName(cpu::ChosenKernelIsa());
  description.options = options;
  return description;
}

void PrintResultsTable(std::ostream& out, const RunDescription& description,
                       const std::vector<BenchCase>& cases,
                       const MedianReporter& results,
                       const std::map<std::string, absl::Status>& agreement) {
  const BenchOptions& options = description.options;
  out << "\n## tensorops core vs libtorch (CPU; float32 unless a case names "
         "its dtype)\n\n"
      << "- date: " << description.date_utc << "\n"
      << "- machine: " << description.cpu_model << ", "
      << description.online_cpus << " online CPUs (nproc), load average "
      << description.load_average << " (1/5/15 min, at the end)\n"
      << "- threads: " << options.threads
      << " (ours: CpuBackend num_threads; libtorch: at::set_num_threads)\n"
      << "- libtorch: " << description.libtorch << "\n"
      << "- our kernels: the " << description.kernels
      << " clone (TENSOROPS_CPU_KERNELS forces generic, avx2 or avx512)\n"
      << "- timing: "
      << (options.quick
              ? std::string("QUICK smoke run, 1 iteration, not a measurement")
              : absl::StrFormat("median real time per call over %d "
                                "repetitions; a repetition runs for at "
                                "least %g s or one call, whichever is longer",
                                options.repetitions, options.min_time_s))
      << "\n\n"
      << "| case | ours (ms) | libtorch (ms) | speedup (torch/ours) | "
         "ours GB/s | floor (ms) | of floor | output check |\n"
      << "|---|---:|---:|---:|---:|---:|---:|---|\n";
  for (const BenchCase& bench_case : cases) {
    const std::string ours_name = OursName(bench_case);
    const std::string torch_name = TorchName(bench_case);
    const std::optional<double> ours = results.MedianMs(ours_name);
    const std::optional<double> torch = results.MedianMs(torch_name);
    const std::string floor_name = FloorName(bench_case);
    const std::optional<double> floor = results.MedianMs(floor_name);
    const std::string of_floor =
        ours.has_value() && floor.has_value() && *ours > 0
            ? absl::StrFormat("%.0f%%", 100 * *floor / *ours)
            : "-";
    const bool ran = ours.has_value() || torch.has_value() ||
                     !results.Error(ours_name).empty() ||
                     !results.Error(torch_name).empty();
    if (!ran) continue;  // filtered out
    const std::string speedup =
        ours.has_value() && torch.has_value() && *ours > 0
            ? absl::StrFormat("%.2fx", *torch / *ours)
            : "-";
    const std::string gb_per_s =
        ours.has_value() && *ours > 0
            ? absl::StrFormat("%.2f", BytesPerCall(bench_case) / *ours * 1e-6)
            : "-";
    out << "| " << bench_case.name << " | " << Cell(results, ours_name, ours)
        << " | " << Cell(results, torch_name, torch) << " | " << speedup
        << " | " << gb_per_s << " | " << Cell(results, floor_name, floor)
        << " | " << of_floor << " | "
        << AgreementCell(agreement, bench_case.name) << " |\n";
  }
  out << "\nGB/s: bytes of the input read by topk and the selection ops, or "
         "of the output written by topk_backward and the fills, per our "
         "median time.\n"
         "floor: one pass over the same bytes on the same number of threads "
         "(reading the input of topk and the selection ops, writing an "
         "output-sized buffer for the others), timed in the same run; of "
         "floor: floor time / our time.\n"
         "output check: both sides' outputs compared byte for byte once "
         "before timing (topk and the selection ops: values only, as equal "
         "values may be ordered differently).\n";
}

}  // namespace tensorops::bench
