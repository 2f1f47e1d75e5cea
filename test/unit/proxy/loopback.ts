import net from 'node:net';

/** A connected pair of real loopback sockets: `[accepted side, connecting side]`, the connection made. */
export async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const outer = net.connect({ host: '127.0.0.1', port });
  const inner = await accepted;
  await new Promise((resolve) => (outer.connecting ? outer.once('connect', resolve) : resolve(undefined)));
  server.close();
  return [inner, outer];
}
