#include "coordinator/training/sbatch_template.h"

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "coordinator/training/slurm_launcher.h"

namespace chorus::coordinator {
namespace {

TEST(SbatchTemplate, FillsEveryPlaceholder) {
  auto out = RenderTemplate("#SBATCH -n {{ntasks}}\nrun {{command}} {{ntasks}}\n",
                            {{"ntasks", "2"}, {"command", "'a b'"}}, "t");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "#SBATCH -n 2\nrun 'a b' 2\n");
}

TEST(SbatchTemplate, NamesMissingAndUnusedKeys) {
  auto missing = RenderTemplate("{{a}} {{b}}", {{"a", "1"}}, "train.sbatch.in");
  EXPECT_NE(missing.status().message().find("train.sbatch.in: no value for placeholder {{b}}"), std::string::npos);
  auto unused = RenderTemplate("{{a}}", {{"a", "1"}, {"c", "2"}}, "t");
  EXPECT_NE(unused.status().message().find("{{c}}"), std::string::npos);
  auto open = RenderTemplate("{{a", {{"a", "1"}}, "t");
  EXPECT_NE(open.status().message().find("unterminated"), std::string::npos);
}

TEST(SbatchTemplate, TheShippedTrainingTemplateRenders) {
  const char* src = std::getenv("CHORUS_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  SlurmLauncherOptions options;
  options.template_path = std::string(src) + "/slurm/train.sbatch.in";
  options.env = {{"OMPI_MCA_btl", "self,vader"}};
  SlurmLauncher launcher(options);
  LaunchSpec spec;
  spec.job_id = 7;
  spec.attempt = 2;
  spec.ranks = 2;
  spec.workdir = "/work dir";
  spec.run_dir = "/state/jobs/7";
  spec.command = {"/bin/chorus-worker", "train", "/state/jobs/7/job.yaml"};
  spec.env = {{"CHORUS_JOB_ID", "7"}};
  spec.log_path = "/state/jobs/7/job.log";
  spec.exit_file = "/state/jobs/7/attempt-2.exit";
  auto script = launcher.RenderScript(spec);
  ASSERT_TRUE(script.ok()) << script.status().ToString();
  EXPECT_NE(script->find("#SBATCH --job-name=chorus-7-2"), std::string::npos);
  EXPECT_NE(script->find("#SBATCH --ntasks=2"), std::string::npos);
  EXPECT_NE(script->find("export CHORUS_JOB_ID=7"), std::string::npos);
  EXPECT_NE(script->find("export OMPI_MCA_btl=self,vader"), std::string::npos);
  EXPECT_NE(script->find("/bin/chorus-worker train /state/jobs/7/job.yaml"), std::string::npos);
  EXPECT_NE(script->find("srun --mpi=pmix"), std::string::npos);
  EXPECT_EQ(script->find("{{"), std::string::npos);
  EXPECT_EQ(script->find("--gpus-per-task"), std::string::npos);  // a CPU job asks for no GPU
  EXPECT_EQ(script->find("--nodes"), std::string::npos);          // Slurm places the ranks
  spec.nodes = 2;
  script = launcher.RenderScript(spec);
  ASSERT_TRUE(script.ok()) << script.status().ToString();
  EXPECT_NE(script->find("#SBATCH --nodes=2\n"), std::string::npos);
}

TEST(SbatchTemplate, NodesToAskCountsOnlyTheNodesThatAreUp) {
  auto nodes = SlurmLauncher::ParseSinfoNodes(
      "n1|debug*|idle|2|0/2/0/2|(null)\nn2|debug*|down*|2|0/0/2/2|(null)\nn3|debug*|mixed|2|1/1/0/2|(null)\n"
      "n4|debug*|drained|2|0/0/2/2|(null)\nn5|batch|idle|2|0/2/0/2|(null)\nn6|debug*|idle*|2|0/2/0/2|(null)\n");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  EXPECT_EQ(SlurmLauncher::NodesToAsk(2, *nodes, "debug"), 2);  // n1, n3
  EXPECT_EQ(SlurmLauncher::NodesToAsk(3, *nodes, "debug"), 2);  // n2 down, n4 drained, n6 not responding
  EXPECT_EQ(SlurmLauncher::NodesToAsk(3, *nodes, "batch"), 1);
  EXPECT_EQ(SlurmLauncher::NodesToAsk(3, *nodes, "gpu"), 3);    // nothing known: as asked
  EXPECT_EQ(SlurmLauncher::NodesToAsk(0, *nodes, "debug"), 0);  // not asked: Slurm places them
  EXPECT_EQ(SlurmLauncher::NodesToAsk(1, *nodes, "debug"), 1);
}

TEST(SbatchTemplate, GpuJobsAndWorkerPoolsAskSlurmForOneGpuPerTask) {
  const char* src = std::getenv("CHORUS_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  SlurmLauncherOptions options;
  options.template_path = std::string(src) + "/slurm/train.sbatch.in";
  options.pool_template_path = std::string(src) + "/slurm/serve-pool.sbatch.in";
  SlurmLauncher launcher(options);
  for (bool mpi : {true, false}) {
    LaunchSpec spec;
    spec.job_id = 3;
    spec.ranks = 2;
    spec.mpi = mpi;
    spec.name = "kws";
    spec.workdir = "/w";
    spec.run_dir = "/state/jobs/3";
    spec.command = {"/bin/chorus-worker"};
    spec.log_path = "/state/jobs/3/job.log";
    spec.exit_file = "/state/jobs/3/attempt-0.exit";
    spec.gpus_per_task = 1;
    auto script = launcher.RenderScript(spec);
    ASSERT_TRUE(script.ok()) << script.status().ToString();
    EXPECT_NE(script->find("\n#SBATCH --gpus-per-task=1\n"), std::string::npos) << *script;
  }
}

}  // namespace
}  // namespace chorus::coordinator
