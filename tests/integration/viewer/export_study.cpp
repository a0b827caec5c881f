// Test harness for the web viewer: renders a study directory with tsunagu_viewer into the static
// layout the viewer reads (viewer-lib/web/README.md): summary.json, series/S/thumbnail and
// series/S/instances/I/frames/F/rendered (JPEG, default window). The browser test serves it with a
// static mock server; the relay will serve the same shapes from its store.
//
// Usage: tsunagu_viewer_export_study --out DIR --expires-at ISO8601 STUDY_DIR
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tsunagu/config/relay_options.h"
#include "tsunagu/viewer/frame_source.h"

namespace fs = std::filesystem;
using tsunagu::viewer::FrameInfo;
using tsunagu::viewer::FrameSource;

namespace {

struct Instance {
  fs::path path;
  long number = 0;
};
struct Series {
  std::string uid, description, modality;
  long number = 0;
  std::vector<Instance> instances;
};

std::string Get(DcmDataset& ds, const DcmTagKey& tag) {
  OFString v;
  return ds.findAndGetOFString(tag, v).good() ? std::string(v.c_str()) : std::string();
}

std::string Json(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Num(double v) {
  std::ostringstream o;
  o.precision(10);
  o << v;
  return o.str();
}

bool Write(const fs::path& path, const std::string& data) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << data;
  return static_cast<bool>(out);
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "export_study: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path out, study;
  std::string expires_at;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) {
      out = argv[++i];
    } else if (a == "--expires-at" && i + 1 < argc) {
      expires_at = argv[++i];
    } else {
      study = a;
    }
  }
  if (out.empty() || study.empty() || expires_at.empty()) {
    return Fail("usage: --out DIR --expires-at ISO8601 STUDY_DIR");
  }
  std::map<std::string, Series> by_uid;
  std::string study_date, patient_id_last4, study_description;
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(study)) {
    if (e.path().extension() == ".dcm") files.push_back(e.path());
  }
  for (const auto& path : files) {
    DcmFileFormat file;
    if (file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, 1024).bad()) {
      return Fail("cannot read " + path.string());
    }
    DcmDataset& ds = *file.getDataset();
    Series& s = by_uid[Get(ds, DCM_SeriesInstanceUID)];
    s.uid = Get(ds, DCM_SeriesInstanceUID);
    s.description = Get(ds, DCM_SeriesDescription);
    s.modality = Get(ds, DCM_Modality);
    s.number = std::atol(Get(ds, DCM_SeriesNumber).c_str());
    s.instances.push_back({path, std::atol(Get(ds, DCM_InstanceNumber).c_str())});
    study_date = Get(ds, DCM_StudyDate);
    study_description = Get(ds, DCM_StudyDescription);
    const std::string id = Get(ds, DCM_PatientID);
    // The relay keeps only the last 4 characters of the patient ID; so does this harness.
    patient_id_last4 = id.size() > 4 ? id.substr(id.size() - 4) : id;
  }
  std::vector<Series> series;
  for (auto& [uid, s] : by_uid) {
    std::sort(s.instances.begin(), s.instances.end(),
              [](const Instance& a, const Instance& b) { return a.number < b.number; });
    series.push_back(s);
  }
  std::sort(series.begin(), series.end(),
            [](const Series& a, const Series& b) { return a.number < b.number; });

  std::ostringstream json;
  json << "{\n  \"version\": 1,\n  \"study\": {\"patient_id_last4\": " << Json(patient_id_last4)
       << ", \"study_date\": " << Json(study_date)
       << ", \"description\": " << Json(study_description)
       << ", \"expires_at\": " << Json(expires_at) << "},\n";
  json << "  \"presets\": {";
  bool first_modality = true;
  for (const auto& [modality, presets] : tsunagu::config::DefaultWindowPresets()) {
    json << (first_modality ? "" : ", ") << Json(modality) << ": [";
    for (std::size_t i = 0; i < presets.size(); ++i) {
      json << (i ? ", " : "") << "{\"name\": " << Json(presets[i].name)
           << ", \"center\": " << presets[i].center << ", \"width\": " << presets[i].width << "}";
    }
    json << "]";
    first_modality = false;
  }
  json << "},\n  \"series\": [\n";
  for (std::size_t si = 0; si < series.size(); ++si) {
    const Series& s = series[si];
    const std::string series_url = "series/" + std::to_string(si + 1);
    long frame_count = 0;
    std::ostringstream images;
    for (std::size_t ii = 0; ii < s.instances.size(); ++ii) {
      auto source = FrameSource::OpenFile(s.instances[ii].path);
      if (!source.ok()) return Fail(source.status().ToString());
      const FrameInfo& info = (*source)->Describe();
      const std::string url = series_url + "/instances/" + std::to_string(ii + 1);
      for (std::uint32_t f = 0; f < info.frames; ++f) {
        auto jpeg = (*source)->RenderJpeg(f, tsunagu::viewer::RenderParams{});
        if (!jpeg.ok()) return Fail(jpeg.status().ToString());
        if (!Write(out / url / "frames" / std::to_string(f + 1) / "rendered", jpeg->jpeg)) {
          return Fail("cannot write under " + out.string());
        }
      }
      frame_count += info.frames;
      if (ii == s.instances.size() / 2) {
        auto thumbnail = (*source)->Thumbnail(128, 80);
        if (!thumbnail.ok()) return Fail(thumbnail.status().ToString());
        Write(out / series_url / "thumbnail", *thumbnail);
      }
      images << (ii ? ",\n" : "") << "      {\"url\": " << Json(url)
             << ", \"frames\": " << info.frames << ", \"rows\": " << info.rows
             << ", \"columns\": " << info.columns;
      if (info.pixel_spacing) {
        images << ", \"pixel_spacing\": [" << Num(info.pixel_spacing->row_mm) << ", "
               << Num(info.pixel_spacing->column_mm) << "], \"spacing_kind\": "
               << (info.pixel_spacing->imager ? "\"imager\"" : "\"pixel\"");
      } else {
        images << ", \"pixel_spacing\": null, \"spacing_kind\": null";
      }
      if (info.orientation) {
        images << ", \"orientation\": [";
        for (int k = 0; k < 6; ++k) images << (k ? ", " : "") << Num((*info.orientation)[k]);
        images << "]";
      }
      if (info.position) {
        images << ", \"position\": [" << Num((*info.position)[0]) << ", "
               << Num((*info.position)[1]) << ", " << Num((*info.position)[2]) << "]";
      }
      if (!info.frame_positions.empty()) {
        images << ", \"frame_positions\": [";
        for (std::size_t k = 0; k < info.frame_positions.size(); ++k) {
          const auto& p = info.frame_positions[k];
          images << (k ? ", " : "") << "[" << Num(p[0]) << ", " << Num(p[1]) << ", " << Num(p[2])
                 << "]";
        }
        images << "]";
      }
      if (info.frame_time_ms) images << ", \"frame_time_ms\": " << Num(*info.frame_time_ms);
      if (info.grayscale) {
        tsunagu::viewer::RenderParams params;
        auto first = (*source)->RenderJpeg(0, params);
        if (first.ok() && first->window) {
          images << ", \"window\": {\"center\": " << Num(first->window->center)
                 << ", \"width\": " << Num(first->window->width) << "}";
        }
      }
      images << "}";
    }
    json << (si ? ",\n" : "") << "    {\"uid\": " << Json(s.uid) << ", \"number\": " << s.number
         << ", \"modality\": " << Json(s.modality) << ", \"description\": " << Json(s.description)
         << ", \"frame_count\": " << frame_count
         << ", \"thumbnail_url\": " << Json(series_url + "/thumbnail") << ",\n     \"images\": [\n"
         << images.str() << "\n    ]}";
  }
  json << "\n  ]\n}\n";
  if (!Write(out / "summary.json", json.str())) return Fail("cannot write summary.json");
  std::printf("exported %zu series to %s\n", series.size(), out.c_str());
  return 0;
}
