// Quick start: two sequential MEMIT steps equal one-time editing; a retraction undoes a batch.
#include <seqedit/seqedit.hpp>

#include <cstdio>
#include <cstdlib>
#include <vector>

int main() {
  using Matrix = Eigen::MatrixXd;
  const int dk = 64, dv = 16, n = 5;  // key and value widths, edits per batch
  std::srand(7);
  const Matrix W0 = Matrix::Random(dv, dk);
  const Matrix K0 = Matrix::Random(dk, 4 * dk);           // retention keys
  const Matrix C0 = K0 * K0.transpose() / double(K0.cols());  // their second moment
  const Matrix K1 = Matrix::Random(dk, n), V1 = Matrix::Random(dv, n);
  const Matrix K2 = Matrix::Random(dk, n), V2 = Matrix::Random(dv, n);
  const auto objective = seqedit::Objective<double>::memit(1.0);  // lambda = 1, alpha = 0

  seqedit::SequentialEditor<double> editor(W0, C0, objective);
  const std::vector<seqedit::EditId> first = editor.apply(K1, V1);  // step 1
  editor.apply(K2, V2);                                              // step 2

  const seqedit::OneTimeEditor<double> ote(C0, objective);
  Matrix K12(dk, 2 * n), V12(dv, 2 * n);
  K12 << K1, K2;
  V12 << V1, V2;
  const Matrix both = ote.solve(W0, K12, V12);  // both batches at once
  const double gap = (editor.cumulative_update() - both).norm() / both.norm();
  std::printf("two steps vs one-time editing:    relative difference %.2e\n", gap);

  editor.retract(first);  // as if batch 1 had never been applied
  const Matrix second = ote.solve(W0, K2, V2);
  const double undo = (editor.cumulative_update() - second).norm() / second.norm();
  std::printf("retract batch 1 vs editing only 2: relative difference %.2e\n", undo);
  std::printf("batch 2 residual |W K2 - V2| / |V2 - W0 K2| = %.3f\n",
              (editor.weights() * K2 - V2).norm() / (V2 - W0 * K2).norm());
  return gap < 1e-10 && undo < 1e-10 ? 0 : 1;
}
