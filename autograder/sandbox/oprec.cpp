// The worker's ATen-op recorder in C++: what the Python OpRecorder (a TorchDispatchMode) records,
// seen from a RecordFunction callback instead, so that an op costs a few hundred nanoseconds more
// rather than a trip into Python (the recorder was about 30 % of a class's grading time).
//
// A dispatch mode sits at the Python dispatch key, below autograd: it sees the ops that reach that
// key. A CompositeImplicitAutograd op (linear, item, one_hot) runs its decomposition above the key,
// so the mode sees the ops it calls, not the op itself; any other op's kernel runs below the mode,
// which never sees what that kernel calls. RecordFunction fires on every dispatcher call, so this
// recorder keeps, per thread, a stack of the ops in flight and records an op only where the mode
// would have seen it: every op above it is composite, it is not composite itself, and PyTorch has
// not hidden it from modes.
//
// Only reports: forbidding is the dispatcher's job (forbid.py). Built by `python -m
// autograder op-recorder build`; without it the Python recorder does the same work, slower.

#include <torch/extension.h>
#include <ATen/record_function.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <atomic>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Op {
  std::string name;        // as RecordFunction names it: "aten::addmm"
  bool transparent = false;  // a CompositeImplicitAutograd overload: the mode sees what it calls, not it
  bool called = false;     // recorded since the last clear
  bool made_cpu = false;   // recorded as having made a CPU float tensor since the last clear
};

struct Frame {
  Op* op;                // this op, when the mode would have seen it while recording
  bool callees_visible;  // what this op calls reaches the mode
  int exceptions;        // in flight when it began: more at its end means it raised
};

std::mutex mutex;  // the tables below; learner code may run ops in threads of its own
std::deque<Op> ops;  // stable addresses
std::unordered_map<const char*, Op*> by_name;  // see lookup
std::vector<Op*> called, made_cpu;  // first call first
std::atomic<bool> recording{false};
bool placement = false;
std::atomic<uint64_t> seen{0};
at::CallbackHandle handle = 0;
thread_local std::vector<Frame> in_flight;

// The op being called, or nullptr when it is no dispatcher op (an autograd node, a named region:
// the mode sees what it calls). A dispatcher op's name lives in its schema, one per overload, for
// the process's life: that address keys the table (no string is hashed or copied per call).
Op* lookup(const at::RecordFunction& fn) {
  const char* name = fn.name();
  auto found = by_name.find(name);
  if (found != by_name.end()) return found->second;
  auto operator_name = fn.operator_name();
  if (!operator_name) return nullptr;
  Op& op = ops.emplace_back();
  op.name = operator_name->name;
  auto handle = c10::Dispatcher::singleton().findOp(*operator_name);
  op.transparent = handle && handle->hasKernelForDispatchKey(c10::DispatchKey::CompositeImplicitAutograd);
  by_name.emplace(name, &op);
  return &op;
}

std::unique_ptr<at::ObserverContext> enter(const at::RecordFunction& fn) {
  seen.fetch_add(1, std::memory_order_relaxed);
  // PyTorch hides some of its own ops from modes (the tensor made by torch.tensor): the Python key
  // is excluded while they run
  bool visible = (in_flight.empty() || in_flight.back().callees_visible) &&
                 !c10::impl::tls_is_dispatch_key_excluded(c10::DispatchKey::Python);
  if (!recording.load(std::memory_order_relaxed) || !visible) {
    in_flight.push_back(Frame{nullptr, false, 0});
    return nullptr;
  }
  Op* op;
  {
    std::lock_guard<std::mutex> lock(mutex);
    op = lookup(fn);
  }
  if (op == nullptr || op->transparent) {
    in_flight.push_back(Frame{nullptr, true, 0});
  } else {
    in_flight.push_back(Frame{op, false, std::uncaught_exceptions()});
  }
  return nullptr;
}

bool cpu_float(const at::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.is_floating_point() && t.dim() > 0;
}

bool makes_cpu_float(const std::vector<c10::IValue>& outputs) {
  for (const auto& out : outputs) {
    if (out.isTensor() && cpu_float(out.toTensor())) return true;
    if (out.isTensorList()) {
      for (const at::Tensor& t : out.toTensorList().vec()) {
        if (cpu_float(t)) return true;
      }
    }
  }
  return false;
}

// The mode records an op when it returns, in the order ops return, and never one that raised.
void leave(const at::RecordFunction& fn, at::ObserverContext*) {
  if (in_flight.empty()) return;  // began before this callback was added
  Frame frame = in_flight.back();
  in_flight.pop_back();
  if (frame.op == nullptr || std::uncaught_exceptions() > frame.exceptions) return;
  bool made = placement && fn.needsOutputs() && makes_cpu_float(fn.outputs());
  std::lock_guard<std::mutex> lock(mutex);
  if (!frame.op->called) {
    frame.op->called = true;
    called.push_back(frame.op);
  }
  if (made && !frame.op->made_cpu) {
    frame.op->made_cpu = true;
    made_cpu.push_back(frame.op);
  }
}

void add_callback() {
  handle = at::addGlobalCallback(
      at::RecordFunctionCallback(enter, leave).scopes({at::RecordScope::FUNCTION}).needsOutputs(placement));
}

// Adds the callback for the rest of the process's life (forked children inherit it).
void install() {
  if (handle == 0) add_callback();
}

// Forgets what was recorded; ``with_placement``: also note the ops that make CPU float tensors
// (their outputs are looked at, which costs more: only on devices other than the CPU).
void clear(bool with_placement) {
  std::lock_guard<std::mutex> lock(mutex);
  for (Op* op : called) op->called = false;
  for (Op* op : made_cpu) op->made_cpu = false;
  called.clear();
  made_cpu.clear();
  bool changed = with_placement != placement;
  placement = with_placement;
  if (changed && handle != 0) {  // outputs are captured only for a callback that asks for them
    at::removeCallback(handle);
    add_callback();
  }
}

std::vector<std::string> names(const std::vector<Op*>& list) {
  std::vector<std::string> out;
  for (const Op* op : list) {
    auto colons = op->name.find("::");
    out.push_back(colons == std::string::npos ? op->name : op->name.substr(colons + 2));
  }
  return out;
}

std::vector<std::string> op_names() {
  std::lock_guard<std::mutex> lock(mutex);
  return names(called);
}

std::vector<std::string> cpu_made_names() {
  std::lock_guard<std::mutex> lock(mutex);
  return names(made_cpu);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "The worker's ATen-op recorder, as a RecordFunction callback (see oprec.cpp).";
  m.def("install", &install);
  m.def("set_recording", [](bool on) { recording.store(on); });
  m.def("recording", []() { return recording.load(); });
  m.def("clear", &clear, pybind11::arg("placement"));
  m.def("op_names", &op_names);
  m.def("cpu_made_names", &cpu_made_names);
  m.def("seen", []() { return seen.load(); });
}
