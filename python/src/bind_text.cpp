// seqedit::text: the tokenizer.json pipeline (built when the seqedit_text library is).

#include "common.hpp"

#include <seqedit/text/tokenizer.hpp>

namespace seqedit_py {

void bind_text(py::module_& m) {
  namespace st = seqedit::text;
  m.attr("max_text_bytes") = st::max_text_bytes;
  py::class_<st::Tokenizer>(m, "Tokenizer")
      .def_static("from_file", [](const std::string& path) {
        py::gil_scoped_release nogil;
        return st::Tokenizer::from_file(path);
      })
      .def_static("from_json", [](const std::string& text, const std::string& origin) {
        py::gil_scoped_release nogil;
        return st::Tokenizer::from_json(text, origin);
      })
      .def_static("from_gpt2_files", [](const std::string& vocab, const std::string& merges) {
        py::gil_scoped_release nogil;
        return st::Tokenizer::from_gpt2_files(vocab, merges);
      })
      .def_static("from_checkpoint", [](const std::string& dir) {
        py::gil_scoped_release nogil;
        return st::Tokenizer::from_checkpoint(dir);
      })
      .def("encode", [](const st::Tokenizer& t, const std::string& text, bool add_special) {
        st::Encoding e;
        {
          py::gil_scoped_release nogil;
          e = t.encode(text, add_special);
        }
        return py::make_tuple(e.ids, e.offsets, e.tokens, e.special_tokens_mask);
      })
      .def("encode_ids", [](const st::Tokenizer& t, const std::string& text, bool add_special) {
        py::gil_scoped_release nogil;
        return t.encode_ids(text, add_special);
      })
      .def("decode", [](const st::Tokenizer& t, const std::vector<std::int32_t>& ids, bool skip_special) {
        std::string s;
        {
          py::gil_scoped_release nogil;
          s = t.decode(ids, skip_special);
        }
        return py::bytes(s);
      })
      .def("token_to_id", [](const st::Tokenizer& t, const std::string& tok) { return t.token_to_id(tok); })
      .def("id_to_token", [](const st::Tokenizer& t, std::int32_t id) { return py::bytes(t.id_to_token(id)); })
      .def_property_readonly("vocab_size", &st::Tokenizer::vocab_size)
      .def("is_special", &st::Tokenizer::is_special)
      .def_property_readonly("origin", &st::Tokenizer::origin);
}

}  // namespace seqedit_py
