"""GPS receiver simulator: garbage trucks of the demo city driving their routes, as NMEA.

    route.Route             a truck's route as a closed polyline in local metres
    driving.Driver          calm kinematics along it (corners, stops, speed zones)
    scripts                 scripted episodes (harsh braking/acceleration, speeding)
    gps.TruckSimulator      truth + receiver imperfections, one epoch at a time
    nmea_out.format_epoch   RMC, VTG, GGA, GSA, GSV bytes for an epoch
    receiver.PtyGpsReceiver the simulator on a pty at real-time pace; iter_nmea unpaced
    imu.ImuSimulator        the truck's accelerometer ($PCTIM lines), from the same driver
    run.run_gps             one truck's receiver on a pty or into a file (``citytrack sim gps``)

Test and demo tooling only: no production code imports this package.
"""
