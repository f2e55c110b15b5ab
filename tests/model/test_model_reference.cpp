// The runtime against the independent PyTorch implementation (torch_reference.py), and
// properties that need no reference: batching = one prompt at a time, incremental = full
// pass, the δ-gradient against finite differences, keys in the loader's orientation.

#include "model_test_util.hpp"

#include <seqedit/io/checkpoint.hpp>

#include <random>

using namespace model_test;
using seqedit::model::ForwardResult;
using seqedit::model::RunOptions;

TEMPLATE_TEST_CASE("every family matches the torch reference: logits, block outputs, keys, loss, δ-gradient",
                   "[model][torch]", float, double) {
  using Scalar = TestType;
  for (const std::string& name : cases()) {
    const Ref ref(name);
    const auto model = Model<Scalar>::load(ref.dir);
    const auto& cfg = model.config();
    const Batch batch = ref.batch();
    const std::vector<Site> sites = all_sites(batch);
    const std::string t = tag<Scalar>();

    RunOptions<Scalar> opt;
    opt.logits = sites;
    for (int l = 0; l < cfg.n_layer; ++l) opt.key_layers.push_back(l), opt.residual_layers.push_back(l);
    opt.key_sites = sites;
    opt.residual_sites = sites;
    const ForwardResult<Scalar> r = model.run(batch, opt);

    double e_logits = 0, e_block = 0, e_key = 0;
    Eigen::Index col = 0;
    for (std::size_t p = 0; p < batch.prompts.size(); ++p) {
      const Eigen::Index n = static_cast<Eigen::Index>(batch.prompts[p].size());
      const std::string ps = std::to_string(p);
      e_logits = std::max(e_logits, rel_err(r.logits.middleCols(col, n).transpose(), ref.get(t + ".logits." + ps)));
      for (int l = 0; l < cfg.n_layer; ++l) {
        const std::string ls = std::to_string(l);
        e_block = std::max(e_block, rel_err(r.residuals[static_cast<std::size_t>(l)].middleCols(col, n).transpose(),
                                            ref.get(t + ".block." + ls + "." + ps)));
        e_key = std::max(e_key, rel_err(r.keys[static_cast<std::size_t>(l)].middleCols(col, n).transpose(),
                                        ref.get(t + ".key." + ls + "." + ps)));
      }
      col += n;
    }

    RunOptions<Scalar> gopt;
    gopt.interventions = ref.interventions<Scalar>();
    gopt.logits = sites;
    const auto g = model.gradient(batch, gopt, ref.loss<Scalar>());
    const double e_loss = std::abs(static_cast<double>(g.loss) - ref.get(t + ".loss")(0, 0)) / std::abs(ref.get(t + ".loss")(0, 0));
    double e_grad = 0, e_ilogits = 0;
    for (std::size_t k = 0; k < gopt.interventions.size(); ++k)
      e_grad = std::max(e_grad, rel_err(g.delta_gradients[k].transpose(), ref.get(t + ".grad." + std::to_string(k))));
    col = 0;
    for (std::size_t p = 0; p < batch.prompts.size(); ++p) {
      const Eigen::Index n = static_cast<Eigen::Index>(batch.prompts[p].size());
      e_ilogits = std::max(e_ilogits, rel_err(g.forward.logits.middleCols(col, n).transpose(), ref.get(t + ".ilogits." + std::to_string(p))));
      col += n;
    }
    std::printf("torch reference %-9s %s: logits %.2e  blocks %.2e  keys %.2e  loss %.2e  grad %.2e  logits+delta %.2e\n",
                name.c_str(), t.c_str(), e_logits, e_block, e_key, e_loss, e_grad, e_ilogits);
    INFO(name << " " << t << ": logits " << e_logits << " blocks " << e_block << " keys " << e_key << " loss " << e_loss
              << " grad " << e_grad << " logits with delta " << e_ilogits);
    const double tol = torch_tol<Scalar>();
    CHECK(e_logits <= tol);
    CHECK(e_block <= tol);
    CHECK(e_key <= tol);
    CHECK(e_loss <= tol);
    CHECK(e_grad <= tol);
    CHECK(e_ilogits <= tol);
    // the gradient is not trivially zero
    CHECK(g.delta_gradients[0].norm() > 1e-3);
    CHECK(g.delta_gradients[1].norm() > 1e-3);
  }
}

TEST_CASE("a batch of prompts of different lengths gives each prompt's results alone", "[model]") {
  for (const std::string& name : cases()) {
    const Ref ref(name);
    const auto model = Model<double>::load(ref.dir);
    const Batch batch = ref.batch();
    RunOptions<double> opt;
    opt.logits = all_sites(batch);
    opt.key_layers = {0, model.config().n_layer - 1};
    opt.key_sites = opt.logits;
    const auto r = model.run(batch, opt);
    double err = 0;
    Eigen::Index col = 0;
    for (std::size_t p = 0; p < batch.prompts.size(); ++p) {
      Batch one{{batch.prompts[p]}};
      RunOptions<double> o1;
      o1.logits = all_sites(one);
      o1.key_layers = opt.key_layers;
      o1.key_sites = o1.logits;
      const auto r1 = model.run(one, o1);
      const Eigen::Index n = static_cast<Eigen::Index>(batch.prompts[p].size());
      err = std::max(err, rel_err(r.logits.middleCols(col, n), r1.logits));
      err = std::max(err, rel_err(r.keys[0].middleCols(col, n), r1.keys[0]));
      err = std::max(err, rel_err(r.keys[1].middleCols(col, n), r1.keys[1]));
      col += n;
    }
    INFO(name << ": batched vs alone " << err);
    CHECK(err <= 1e-13);
  }
}

TEMPLATE_TEST_CASE("a pass resumed at block L from a saved state equals the full pass, gradient included",
                   "[model][incremental]", float, double) {
  using Scalar = TestType;
  for (const std::string& name : cases()) {
    const Ref ref(name);
    const auto model = Model<Scalar>::load(ref.dir);
    const Batch batch = ref.batch();
    const int L = model.config().n_layer - 2;
    // δ at block L at one site per prompt (MEMIT's subject position); outputs after it
    seqedit::model::Intervention<Scalar> iv;
    iv.layer = L;
    iv.sites = {{0, 3}, {1, 1}, {2, 6}};
    iv.delta = ref.interventions<Scalar>()[0].delta;
    const std::vector<int> from = {3, 1, 6};
    seqedit::model::Loss<Scalar> loss;
    for (const auto& t : ref.loss<Scalar>().nll)
      if (t.position >= from[static_cast<std::size_t>(t.prompt)]) loss.nll.push_back(t);
    loss.kl = ref.loss<Scalar>().kl;
    REQUIRE(loss.nll.size() >= 4);

    RunOptions<Scalar> full;
    full.interventions = {iv};
    for (std::size_t p = 0; p < 3; ++p)
      for (int t = from[p]; t < static_cast<int>(batch.prompts[p].size()); ++t) full.logits.push_back({static_cast<int>(p), t});
    full.key_layers = {model.config().n_layer - 1};
    full.key_sites = full.logits;
    full.residual_layers = {L, model.config().n_layer - 1};
    full.residual_sites = full.logits;
    const auto gf = model.gradient(batch, full, loss);

    RunOptions<Scalar> first;
    first.save_state = true;
    const auto saved = model.run(batch, first);
    REQUIRE(saved.state);
    RunOptions<Scalar> inc = full;
    inc.resume.state = saved.state;
    inc.resume.layer = L;
    inc.resume.from = from;
    double err = 0;
    for (int it = 0; it < 2; ++it) {  // twice: the reused buffers give the same result
      const auto gi = model.gradient(batch, inc, loss);
      err = std::max(err, rel_err(gi.forward.logits, gf.forward.logits));
      err = std::max(err, rel_err(gi.forward.keys[0], gf.forward.keys[0]));
      err = std::max(err, rel_err(gi.forward.residuals[0], gf.forward.residuals[0]));
      err = std::max(err, rel_err(gi.forward.residuals[1], gf.forward.residuals[1]));
      err = std::max(err, rel_err(gi.delta_gradients[0], gf.delta_gradients[0]));
      err = std::max(err, std::abs(static_cast<double>(gi.loss - gf.loss)) / std::abs(static_cast<double>(gf.loss)));
    }
    const double tol = std::is_same<Scalar, double>::value ? 1e-12 : 2e-6;
    INFO(name << " " << tag<Scalar>() << ": incremental vs full " << err);
    std::printf("incremental %-9s %s: vs full pass %.2e\n", name.c_str(), tag<Scalar>(), err);
    CHECK(err <= tol);
  }
}

TEST_CASE("the δ-gradient agrees with central finite differences (double)", "[model][fd]") {
  for (const std::string& name : cases()) {
    const Ref ref(name);
    const auto model = Model<double>::load(ref.dir);
    const Batch batch = ref.batch();
    RunOptions<double> opt;
    opt.interventions = ref.interventions<double>();
    const auto loss = ref.loss<double>();
    const auto g = model.gradient(batch, opt, loss);
    std::mt19937 rng(7);
    double worst = 0;
    for (std::size_t k = 0; k < opt.interventions.size(); ++k) {
      for (int trial = 0; trial < 3; ++trial) {
        // a random direction through all columns of δ_k: directional derivative
        const Eigen::MatrixXd dir = Eigen::MatrixXd::Random(opt.interventions[k].delta.rows(), opt.interventions[k].delta.cols());
        const double h = 1e-5;
        RunOptions<double> plus = opt, minus = opt;
        plus.interventions[k].delta += h * dir;
        minus.interventions[k].delta -= h * dir;
        const double fd = (model.gradient(batch, plus, loss).loss - model.gradient(batch, minus, loss).loss) / (2 * h);
        const double an = (g.delta_gradients[k].array() * dir.array()).sum();
        worst = std::max(worst, std::abs(fd - an) / std::max(std::abs(an), 1e-3));
      }
    }
    (void)rng;
    INFO(name << ": finite differences vs gradient " << worst);
    std::printf("finite differences %-9s: relative error %.2e\n", name.c_str(), worst);
    CHECK(worst <= 1e-7);
  }
}

TEST_CASE("keys are in the loader's orientation and set_ffn_output changes the block output by ΔW k", "[model][keys]") {
  for (const std::string name : {"gpt2", "llama", "gptj"}) {
    const Ref ref(name);
    auto model = Model<double>::load(ref.dir);
    const seqedit::io::Checkpoint ck(ref.dir);
    const Batch batch = ref.batch();
    const int l = 1;
    const Eigen::MatrixXd W = ck.load<double>(ck.ffn_output(l));
    REQUIRE(W.rows() == model.config().d_model);
    REQUIRE(W.cols() == model.config().d_ff);
    CHECK(model.ffn_output(l) == W);

    RunOptions<double> opt;
    opt.key_layers = {l};
    opt.key_sites = all_sites(batch);
    opt.residual_layers = {l};
    opt.residual_sites = opt.key_sites;
    opt.logits = opt.key_sites;
    const auto r0 = model.run(batch, opt);

    const Eigen::MatrixXd dW = Eigen::MatrixXd::Random(W.rows(), 2) * Eigen::MatrixXd::Random(2, W.cols()) * 0.1;
    model.set_ffn_output(l, W + dW);
    CHECK(model.ffn_output(l) == W + dW);
    const auto r1 = model.run(batch, opt);
    // keys of the edited layer are upstream of W: unchanged; the block output moves by ΔW k
    CHECK(r1.keys[0] == r0.keys[0]);
    const Eigen::MatrixXd expect = dW * r0.keys[0];
    const double err = rel_err(r1.residuals[0] - r0.residuals[0], expect);
    INFO(name << ": block output change vs dW k " << err);
    CHECK(err <= 1e-12);
    CHECK(expect.norm() > 1e-3);

    model.reset_ffn_output(l);
    const auto r2 = model.run(batch, opt);
    CHECK(r2.logits == r0.logits);
  }
}
