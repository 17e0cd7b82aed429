/*
 * A Modbus TCP server on libmodbus (Debian's libmodbus-dev), the peer edgewise's Modbus input
 * is tested against: a library the project did not write, on the other end of a real socket.
 *
 * Usage: modbus_server PORT [TAG]
 *
 * Prints "ready" once listening on 127.0.0.1:PORT, then serves any number of clients until
 * killed. The register map (what tests/agent/inputs/test_modbus.py expects):
 *
 *   holding 0       int16  -1234
 *   holding 1       uint16 40000
 *   holding 2-3     int32  -100000      high word first
 *   holding 4-5     uint32 3000000000   low word first
 *   holding 6-7     float32 21.5        high word first (ABCD)
 *   holding 8-9     float32 -3.25       low word first (CDAB)
 *   holding 10      TAG (default 1), so a test can tell a restarted server from the first
 *   input   0       2150 (21.50 with scale 0.01)
 *   input   1       requests served so far (a counter that changes per request)
 *   coils   0-2     1 0 1
 *   discrete 0      1
 *
 * Addresses past these (up to 99) read as 0; from 100 on the server answers
 * "illegal data address".
 */
#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

static uint32_t float_bits(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [TAG]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    int tag = argc > 2 ? atoi(argv[2]) : 1;

    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    modbus_mapping_t *map = modbus_mapping_new(100, 100, 100, 100);
    if (ctx == NULL || map == NULL) {
        fprintf(stderr, "modbus setup failed: %s\n", modbus_strerror(errno));
        return 1;
    }
    map->tab_registers[0] = (uint16_t)(int16_t)-1234;
    map->tab_registers[1] = 40000;
    uint32_t i32 = (uint32_t)(int32_t)-100000;
    map->tab_registers[2] = i32 >> 16;
    map->tab_registers[3] = i32 & 0xFFFF;
    uint32_t u32 = 3000000000u;
    map->tab_registers[4] = u32 & 0xFFFF;
    map->tab_registers[5] = u32 >> 16;
    /* Floats word by word: libmodbus's modbus_set_float_* byte orders differ between
       releases, and the test needs to know exactly what is on the wire. */
    uint32_t f1 = float_bits(21.5f), f2 = float_bits(-3.25f);
    map->tab_registers[6] = f1 >> 16;
    map->tab_registers[7] = f1 & 0xFFFF;
    map->tab_registers[8] = f2 & 0xFFFF;
    map->tab_registers[9] = f2 >> 16;
    map->tab_registers[10] = (uint16_t)tag;
    map->tab_input_registers[0] = 2150;
    map->tab_bits[0] = 1;
    map->tab_bits[2] = 1;
    map->tab_input_bits[0] = 1;

    int server = modbus_tcp_listen(ctx, 8);
    if (server == -1) {
        fprintf(stderr, "listen on %d failed: %s\n", port, modbus_strerror(errno));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);

    /* One select loop over the listening socket and every client, as libmodbus's own
       multi-client example does: a client that reconnects must not wait for the old one. */
    fd_set all;
    FD_ZERO(&all);
    FD_SET(server, &all);
    int top = server;
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    uint16_t served = 0;
    for (;;) {
        fd_set ready = all;
        if (select(top + 1, &ready, NULL, NULL, NULL) == -1) {
            if (errno == EINTR) continue;
            perror("select");
            return 1;
        }
        for (int fd = 0; fd <= top; fd++) {
            if (!FD_ISSET(fd, &ready)) continue;
            if (fd == server) {
                int client = modbus_tcp_accept(ctx, &server);
                if (client != -1) {
                    FD_SET(client, &all);
                    if (client > top) top = client;
                }
                continue;
            }
            modbus_set_socket(ctx, fd);
            int length = modbus_receive(ctx, query);
            if (length > 0) {
                map->tab_input_registers[1] = ++served;
                modbus_reply(ctx, query, length, map);
            } else if (length == -1) {
                close(fd);
                FD_CLR(fd, &all);
            }
        }
    }
}
