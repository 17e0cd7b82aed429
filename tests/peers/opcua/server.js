// An OPC-UA server on node-opcua, the peer edgewise's OPC-UA input is tested against.
//
//   node server.js --port N [--pki DIR] [--user NAME:PASSWORD] [--interval MS]
//
// Prints "ready" once listening on opc.tcp://127.0.0.1:N. Every MS milliseconds (default 100)
// step k = 1, 2, ... changes, in namespace 1:
//   ns=1;s=Temperature  Double  20 + 0.5 k, source timestamp 2020-01-01T00:00:00Z + k seconds,
//                               server timestamp now (so a test can tell the two apart)
//   ns=1;s=Counter      Int32   k, source timestamp now
// and ns=1;s=Broken (Double) stays 0 with status BadSensorFailure.
// Anonymous sessions are allowed; --user adds a user that may log in with that password.
"use strict";

const os = require("os");
const path = require("path");
const { OPCUAServer } = require("node-opcua-server");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");
const { Variant, DataType } = require("node-opcua-variant");
const { StatusCodes } = require("node-opcua-status-code");
const { DataValue } = require("node-opcua-data-value");

function option(name, fallback) {
    const at = process.argv.indexOf(name);
    return at === -1 ? fallback : process.argv[at + 1];
}

const SOURCE_EPOCH_MS = Date.UTC(2020, 0, 1);

async function main() {
    const port = Number(option("--port", "4840"));
    const interval = Number(option("--interval", "100"));
    const user = option("--user", null);
    // A certificate store per server (the tests give each its own), so servers started side by
    // side never contend for one.
    const pki = option("--pki", path.join(os.tmpdir(), `edgewise-opcua-peer-${process.pid}`));
    const options = {
        port,
        hostname: "127.0.0.1",
        serverCertificateManager: new OPCUACertificateManager({ rootFolder: pki }),
        disableDiscovery: true,
        allowAnonymous: true,
    };
    if (user !== null) {
        const [name, password] = user.split(":");
        options.userManager = { isValidUser: (u, p) => u === name && p === password };
    }
    const server = new OPCUAServer(options);
    await server.initialize();

    const addressSpace = server.engine.addressSpace;
    const namespace = addressSpace.getOwnNamespace();
    const device = namespace.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: "Pump" });
    let k = 0;
    // A getter returning a whole DataValue: the server samples it and adds its own timestamp,
    // so the source timestamp (the device's clock) and the server's differ.
    namespace.addVariable({
        componentOf: device, nodeId: "s=Temperature", browseName: "Temperature", dataType: "Double",
        minimumSamplingInterval: interval / 2,
        value: {
            timestamped_get: () => new DataValue({
                value: new Variant({ dataType: DataType.Double, value: 20 + 0.5 * k }),
                sourceTimestamp: new Date(SOURCE_EPOCH_MS + 1000 * k),
            }),
        },
    });
    const counter = namespace.addVariable({
        componentOf: device, nodeId: "s=Counter", browseName: "Counter", dataType: "Int32",
    });
    const broken = namespace.addVariable({
        componentOf: device, nodeId: "s=Broken", browseName: "Broken", dataType: "Double",
    });
    broken.setValueFromSource(new Variant({ dataType: DataType.Double, value: 0 }), StatusCodes.BadSensorFailure);
    const step = () => {
        k += 1;
        counter.setValueFromSource(new Variant({ dataType: DataType.Int32, value: k }), StatusCodes.Good, new Date());
    };
    step();
    setInterval(step, interval);

    await server.start();
    process.stdout.write("ready\n");
}

main().catch((error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
});
